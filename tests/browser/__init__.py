"""Browser tests: the course in JupyterLab and Chromium (make test-browser)."""
