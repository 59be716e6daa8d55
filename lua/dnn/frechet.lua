-- The Fréchet distance between two sets of feature vectors, each seen as a
-- Gaussian (Heusel et al.'s FID when the features are Inception's):
--   d² = |mu_a - mu_b|² + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).
-- The trace of the square root is the sum of the square roots of the
-- eigenvalues of R S_b R with R = S_a^(1/2), a symmetric matrix, so two
-- symmetric eigenproblems suffice; they are solved by cyclic Jacobi
-- rotations in double precision (features have a few hundred dimensions at
-- most here: milliseconds to a second).
local dnn = require "dnn"

local M = {}

local function copy(m)
  local out = {}
  for i, row in ipairs(m) do out[i] = table.move(row, 1, #row, 1, {}) end
  return out
end

local function matmul(a, b)
  local n, m, k = #a, #b[1], #b
  local out = {}
  for i = 1, n do
    local ai, row = a[i], {}
    for j = 1, m do row[j] = 0 end
    for p = 1, k do
      local aip, bp = ai[p], b[p]
      if aip ~= 0 then
        for j = 1, m do row[j] = row[j] + aip * bp[j] end
      end
    end
    out[i] = row
  end
  return out
end

-- Eigenvalues and eigenvectors (columns of v) of a symmetric matrix a
-- (destroyed), by cyclic Jacobi sweeps until the off-diagonal part is
-- negligible.
local function symmetric_eigen(a)
  local n = #a
  local v = {}
  for i = 1, n do
    v[i] = {}
    for j = 1, n do v[i][j] = i == j and 1 or 0 end
  end
  for _ = 1, 100 do
    local off, scale = 0, 0
    for i = 1, n do
      scale = scale + a[i][i] * a[i][i]
      for j = i + 1, n do off = off + a[i][j] * a[i][j] end
    end
    if off <= 1e-22 * scale or off == 0 then break end
    for p = 1, n - 1 do
      for q = p + 1, n do
        local apq = a[p][q]
        if apq ~= 0 then
          -- the rotation that zeroes a[p][q] (Golub and Van Loan, 8.4)
          local theta = (a[q][q] - a[p][p]) / (2 * apq)
          local t = (theta >= 0 and 1 or -1) / (math.abs(theta) + math.sqrt(theta * theta + 1))
          local c = 1 / math.sqrt(t * t + 1)
          local s = t * c
          for k = 1, n do
            local akp, akq = a[k][p], a[k][q]
            a[k][p], a[k][q] = c * akp - s * akq, s * akp + c * akq
          end
          for k = 1, n do
            local apk, aqk = a[p][k], a[q][k]
            a[p][k], a[q][k] = c * apk - s * aqk, s * apk + c * aqk
          end
          for k = 1, n do
            local vkp, vkq = v[k][p], v[k][q]
            v[k][p], v[k][q] = c * vkp - s * vkq, s * vkp + c * vkq
          end
        end
      end
    end
  end
  local values = {}
  for i = 1, n do values[i] = a[i][i] end
  return values, v
end

-- The mean (Lua array) and covariance (Lua matrix, divided by n - 1) of the
-- rows of x (n, d).
local function moments(x)
  local n = x.shape[1]
  local mean = x:mean(1, true)
  local centered = x - mean
  local cov = dnn.matmul(centered:transpose(1, 2), centered) / (n - 1)
  return mean:reshape(-1):totable(), cov:totable()
end

local function check_features(name, x)
  if not dnn.is_tensor(x) or x.ndim ~= 2 or x.shape[1] < 2 then
    error(string.format("frechet_distance: expected %s to be a tensor (n, d) with n >= 2, got %s", name,
      dnn.is_tensor(x) and "shape {" .. table.concat(x.shape, ", ") .. "}" or type(x)), 3)
  end
end

function M.frechet_distance(a, b)
  check_features("a", a)
  check_features("b", b)
  if a.shape[2] ~= b.shape[2] then
    error(string.format("frechet_distance: expected features of one size, got %d and %d", a.shape[2], b.shape[2]), 2)
  end
  local mu_a, s_a = moments(a)
  local mu_b, s_b = moments(b)
  local d = #mu_a
  local distance = 0
  for i = 1, d do distance = distance + (mu_a[i] - mu_b[i]) ^ 2 + s_a[i][i] + s_b[i][i] end
  -- R = S_a^(1/2) from S_a's eigendecomposition (negative rounding noise clipped)
  local values, vectors = symmetric_eigen(copy(s_a))
  local scaled = {}
  for i = 1, d do
    scaled[i] = {}
    for j = 1, d do scaled[i][j] = vectors[i][j] * math.sqrt(math.max(values[j], 0)) end
  end
  local transposed = {}
  for i = 1, d do
    transposed[i] = {}
    for j = 1, d do transposed[i][j] = vectors[j][i] end
  end
  local root = matmul(scaled, transposed)
  local inner = matmul(matmul(root, s_b), root)
  for i = 1, d do -- symmetrize the rounding
    for j = i + 1, d do
      local m = (inner[i][j] + inner[j][i]) / 2
      inner[i][j], inner[j][i] = m, m
    end
  end
  local trace_root = 0
  for _, e in ipairs((symmetric_eigen(inner))) do trace_root = trace_root + math.sqrt(math.max(e, 0)) end
  return math.max(distance - 2 * trace_root, 0)
end

return M
