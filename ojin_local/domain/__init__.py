"""The API's rules, free of HTTP: handlers parse requests, call these functions, render results."""
