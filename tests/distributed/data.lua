-- The tests' data, read once (unpacking Fashion-MNIST takes seconds, each of
-- the tests' ~15 processes would pay it): the first 1280 training images and
-- labels into one safetensors file, which equivalence.lua and resume.lua read.
--   dnnlua data.lua OUT
local train = dnn.datasets.fashion_mnist{limit = 1280}
dnn.save_safetensors(arg[1], {{"x", train.x}, {"y", train.y}})
