"""A switch tray: several switch chips, one per plane of the fabric."""
