"""PyTorch models exported by torch.onnx.export, for tests/lua/onnx_spec.lua.

    /usr/bin/python3 onnx_models.py OUT_DIR

Writes OUT_DIR/<name>.onnx for an MLP, a CNN (NCHW, conv + batch norm + pools + flatten) and an LSTM classifier
(embedding-free: float sequences, batch first), each with fixed random weights, and prints one line per model,
"<name>_input v1 v2 ..." and "<name>_output v1 v2 ...": the input it was run on and PyTorch's predictions (eval mode).
"""
import sys
import warnings

import torch
from torch import nn

torch.manual_seed(0)
warnings.filterwarnings("ignore")  # the exporter's notes on shape inference


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, batch_first=True)
        self.gru = nn.GRU(8, 6, batch_first=True, bidirectional=True)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        y, _ = self.gru(y)
        return torch.softmax(self.head(y[:, -1, :]), dim=-1)


def models():
    mlp = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3),
                        nn.Softmax(dim=-1))
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 6, 3, stride=1), nn.GELU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 2, 5))
    with torch.no_grad():  # batch norm statistics that are not the identity
        cnn[1].running_mean.uniform_(-0.5, 0.5)
        cnn[1].running_var.uniform_(0.5, 2.0)
    return {"mlp": (mlp, torch.randn(3, 10)), "cnn": (cnn, torch.randn(2, 1, 12, 12)),
            "lstm": (LSTMClassifier(), torch.randn(2, 5, 4))}


def values(t):
    return " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist())


def main():
    out_dir = sys.argv[1]
    for name, (model, x) in models().items():
        model.eval()
        torch.onnx.export(model, (x,), "%s/%s.onnx" % (out_dir, name), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)
        with torch.no_grad():
            y = model(x)
        print("%s_input %s" % (name, values(x)))
        print("%s_output %s" % (name, values(y)))


if __name__ == "__main__":
    main()
