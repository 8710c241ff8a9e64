"""One blueprint per resource; handlers only parse, call the domain and render."""
