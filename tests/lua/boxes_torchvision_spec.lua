-- dnn.ops.box_iou and nms against torchvision.ops (PyTorch with torchvision),
-- skipped with a message where they are absent (torchvision is not in Debian).
local dnn = dnn or require "dnn"
local ops = dnn.ops

describe("dnn.ops against torchvision", function()
  local H = require "helpers"
  local have = H.have_torch() and
    os.execute(H.python .. " -c 'import torchvision' >/dev/null 2>&1") == true
  if not have then
    pending("PyTorch with torchvision is not installed (torchvision is not in Debian): cross-check skipped")
    return
  end

  it("agrees with torchvision.ops.box_iou and nms on random boxes", function()
    dnn.manual_seed(3)
    local function random_boxes(n)
      local corner = dnn.rand(n, 2) * 10
      return dnn.cat({corner, corner + dnn.rand(n, 2) * 5 + 0.1}, 2)
    end
    local a, b, s = random_boxes(40), random_boxes(30), dnn.rand(40)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    for name, t in pairs{a = a, b = b, s = s} do f:write(name, " ", H.torch_values(t), "\n") end
    f:close()
    -- torchvision's boxes are (x1, y1, x2, y2): the IoU does not mind the swap
    local ref = H.run_torch_code([[
import sys, torch
from torchvision.ops import box_iou, nms
d = {}
for line in open(sys.argv[1]):
    name, *vals = line.split()
    d[name] = torch.tensor([float(v) for v in vals], dtype=torch.float32)
a, b, s = d["a"].reshape(-1, 4), d["b"].reshape(-1, 4), d["s"]
print("iou", " ".join("%.9g" % v for v in box_iou(a, b).reshape(-1).tolist()))
print("keep", " ".join(str(i + 1) for i in nms(a, s, 0.5).tolist()))
]], path)
    os.remove(path)
    H.assert_close_to_reference(ops.box_iou(a, b), ref.iou, 1e-6, "box_iou")
    assert.are.same(ref.keep, ops.nms(a, s, {iou_threshold = 0.5}):totable())
  end)
end)
