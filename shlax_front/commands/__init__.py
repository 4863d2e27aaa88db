"""One module per CLI verb (``<verb>_command``), flask style; each only parses options and calls the library."""
