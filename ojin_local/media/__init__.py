"""Media made by ojin-local's jobs: the idle-video renderer (PyAV + Pillow)."""
