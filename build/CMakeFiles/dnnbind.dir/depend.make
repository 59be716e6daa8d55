# Empty dependencies file for dnnbind.
# This may be replaced when dependencies are built.
