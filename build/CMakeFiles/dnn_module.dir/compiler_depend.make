# Empty compiler generated dependencies file for dnn_module.
# This may be replaced when dependencies are built.
