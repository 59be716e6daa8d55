-- dnn.so for Lua 5.4 (require "dnn"): `luarocks make` in a clone of dnnlua.
-- The Lua library is compiled into dnn.so, so the module is that one file.
-- Needs a C compiler, CMake, pkg-config and the development files of
-- OpenBLAS, OpenMP (GCC's), libpng, libjpeg, zlib, stb's header, protobuf-c
-- with protoc-c and ONNX's onnx.proto (libonnx-dev), and optionally Open MPI
-- (Debian: scripts/setup.sh).
rockspec_format = "3.0"
package = "dnnlua"
version = "0.1.0-1"
-- No release archive is published: `luarocks make` builds the clone it runs in.
source = {
  url = "."
}
description = {
  summary = "Neural networks in C with a Keras-style Lua 5.4 API",
  detailed = [[
Tensors on OpenBLAS and OpenMP, reverse-mode autodiff, Keras-style layers,
losses, optimizers and a training loop, image and sequence data, model files.
]],
  license = "MIT",
  labels = {"neural-networks", "machine-learning", "deep-learning"},
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    DNN_LUA_MODULE_ONLY = "ON",
    DNN_LUA_CMOD_DIR = "$(LIBDIR)",
    DNN_LUA_INCDIR = "$(LUA_INCDIR)",
    -- a newer compiler's new warning must not break an install
    DNN_WERROR = "OFF",
    BUILD_TESTING = "OFF",
  },
}
