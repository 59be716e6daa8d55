-- dnn.metrics.frechet_distance: known values for Gaussians, symmetry, zero on
-- equal sets, PyTorch's eigvalsh in float64 on the same features, errors.
local H = require "helpers"
local fd = dnn.metrics.frechet_distance

describe("dnn.metrics.frechet_distance", function()
  it("is zero for a set against itself and symmetric", function()
    dnn.manual_seed(4)
    local a, b = dnn.randn(300, 8), dnn.randn(200, 8) * 2
    assert(math.abs(fd(a, a)) < 1e-9)
    assert(math.abs(fd(a, b) - fd(b, a)) < 1e-6 * fd(a, b))
  end)

  it("matches the closed form for diagonal Gaussians", function()
    -- a: N(0, I), b: N(m, s² I) in d dims: d m² + d (1 + s² - 2 s)
    dnn.manual_seed(5)
    local d, m, s = 6, 0.5, 2
    local a, b = dnn.randn(20000, d), dnn.randn(20000, d) * s + m
    local expected = d * m * m + d * (1 + s * s - 2 * s)
    local got = fd(a, b)
    assert(math.abs(got - expected) < 0.05 * expected, string.format("got %.4f, expected about %.4f", got, expected))
  end)

  it("agrees with the same formula on PyTorch's eigvalsh (float64)", function()
    if not H.have_torch() then return pending("python3-torch is not installed") end
    dnn.manual_seed(6)
    local a = dnn.randn(64, 5)
    local b = dnn.matmul(dnn.randn(80, 5), dnn.randn(5, 5)) + 1
    local ref = H.run_torch_code(string.format([[
import torch
a = torch.tensor([float(v) for v in "%s".split()], dtype=torch.float64).reshape(64, 5)
b = torch.tensor([float(v) for v in "%s".split()], dtype=torch.float64).reshape(80, 5)
def stats(x):
    return x.mean(0), torch.cov(x.T)
ma, sa = stats(a)
mb, sb = stats(b)
w, v = torch.linalg.eigh(sa)
root = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T
inner = root @ sb @ root
tr = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
print("fd", "%%.12g" %% ((ma - mb).square().sum() + sa.trace() + sb.trace() - 2 * tr).item())
]], H.torch_values(a), H.torch_values(b)))
    local got = fd(a, b)
    assert(math.abs(got - ref.fd[1]) <= 1e-4 * ref.fd[1], string.format("dnnlua %.8g, PyTorch %.8g", got, ref.fd[1]))
  end)

  it("refuses what is not two feature matrices of one width", function()
    H.assert_error({"frechet_distance: expected a to be a tensor (n, d) with n >= 2, got table"}, fd, {}, dnn.zeros(3, 2))
    H.assert_error({"expected b to be a tensor (n, d) with n >= 2, got shape {1, 2}"}, fd, dnn.zeros(3, 2),
      dnn.zeros(1, 2))
    H.assert_error({"expected a to be a tensor (n, d)", "got shape {6}"}, fd, dnn.zeros(6), dnn.zeros(3, 2))
    H.assert_error({"frechet_distance: expected features of one size, got 2 and 3"}, fd, dnn.zeros(3, 2),
      dnn.zeros(3, 3))
  end)
end)
