-- A configuration for dnnlua_train: a small classifier of the plane's four
-- quadrants (inputs (x1, x2), classes 1..4), data made here.
dnn.manual_seed(1)
local n = 1024
x = dnn.randn(n, 2)
local labels = {}
for i, row in ipairs(x:totable()) do
  labels[i] = (row[1] >= 0 and 1 or 2) + (row[2] >= 0 and 0 or 2)
end
y = dnn.tensor(labels)

model = dnn.nn.Sequential{
  dnn.nn.Dense(16, {input_shape = {2}, activation = "relu"}),
  dnn.nn.Dense(4, {activation = "softmax"}),
}
model:compile{optimizer = dnn.optim.Adam{learning_rate = 0.02}, loss = "sparse_categorical_crossentropy",
              metrics = {"accuracy"}}
epochs = 8
batch_size = 32
