"""The char-RNN of examples/char_rnn.lua trained again in PyTorch, for
tests/lua/char_rnn_torch_spec.lua.

    python3 char_rnn_ref.py <dir>

<dir> is what `char_rnn.lua --export <dir>` wrote: init.safetensors (the
model's initial weights, Keras's names and layouts) and data.safetensors (the
training and validation text as 1-based character ids, the start of every
training window in the order the batches were drawn, and the settings in the
metadata). Builds nn.Embedding -> nn.LSTM -> nn.Linear with those weights
(LSTM gates i, f, g, o are Keras's i, f, c, o; Keras's one bias goes to bias_ih,
bias_hh is zero and frozen), trains it on the same batches with torch.optim.Adam (its
epsilon set each step to give Keras's update) and the same schedule (Keras's
CosineDecay from lr to lr/10), and prints "torch initial validation loss X"
before training and "torch validation loss X" after (nats per character, the
validation text cut into consecutive windows, as the example does)."""
import math
import sys

import torch

from interchange import read_safetensors

KERAS_EPSILON = 1e-7


class CharRNN(torch.nn.Module):
    def __init__(self, vocab, embed, units):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        self.lstm = torch.nn.LSTM(embed, units, batch_first=True)
        self.logits = torch.nn.Linear(units, vocab)

    def forward(self, ids):
        y, _ = self.lstm(self.embedding(ids))
        return self.logits(y)


def load_keras(model, w):
    with torch.no_grad():
        model.embedding.weight.copy_(w["embedding/embeddings"])
        model.lstm.weight_ih_l0.copy_(w["lstm/kernel"].t())
        model.lstm.weight_hh_l0.copy_(w["lstm/recurrent_kernel"].t())
        model.lstm.bias_ih_l0.copy_(w["lstm/bias"])
        model.lstm.bias_hh_l0.zero_()
        model.logits.weight.copy_(w["logits/kernel"].t())
        model.logits.bias.copy_(w["logits/bias"])
    # Keras's LSTM has one bias: a trained bias_hh would get the same gradient as bias_ih and move the sum twice as
    # far per Adam step.
    model.lstm.bias_hh_l0.requires_grad_(False)


def windows(ids, starts, length):
    """Inputs and next characters (0-based ids) of the windows at 1-based starts."""
    rows = starts.long().unsqueeze(1) - 1 + torch.arange(length + 1)
    w = ids.long()[rows] - 1
    return w[:, :length], w[:, 1:]


def validation_loss(model, ids, length):
    count = (ids.shape[0] - 1) // length
    starts = torch.arange(count) * length + 1
    total = 0.0
    with torch.no_grad():
        for first in range(0, count, 128):
            x, y = windows(ids, starts[first:first + 128], length)
            logits = model(x)
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item() * x.shape[0]
    return total / count


def cosine_decay(lr, alpha, decay_steps, step):
    """Keras's CosineDecay at the 0-based step (the optimizer's iterations before the update)."""
    cosine = 0.5 * (1 + math.cos(math.pi * min(step, decay_steps) / decay_steps))
    return lr * ((1 - alpha) * cosine + alpha)


def main(directory):
    torch.manual_seed(0)
    weights, _ = read_safetensors(directory + "/init.safetensors")
    data, meta = read_safetensors(directory + "/data.safetensors")
    vocab, units, batch, length = (int(meta[k]) for k in ("vocab", "units", "batch_size", "seq_len"))
    steps, lr, alpha = int(meta["steps"]), float(meta["lr"]), float(meta["alpha"])
    model = CharRNN(vocab, weights["embedding/embeddings"].shape[1], units)
    load_keras(model, weights)
    print("torch initial validation loss %.6f" % validation_loss(model, data["val_ids"], length))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.999), eps=KERAS_EPSILON)
    starts = data["starts"].reshape(steps, batch)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_decay(lr, alpha, steps, step)
            # Keras adds epsilon to sqrt(v) before the bias correction, PyTorch after: the same update needs
            # PyTorch's epsilon at Keras's divided by sqrt(1 - beta_2^t).
            group["eps"] = KERAS_EPSILON / math.sqrt(1 - 0.999 ** (step + 1))
        x, y = windows(data["train_ids"], starts[step], length)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("torch validation loss %.6f" % validation_loss(model, data["val_ids"], length))


if __name__ == "__main__":
    main(sys.argv[1])
