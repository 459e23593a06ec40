"""Plain PyTorch modules the compiler assembles a design from.

This file depends on nothing but torch, on purpose: the PyTorch source export copies these classes
verbatim into the generated model file, so the exported code needs no RNN Studio installed.
Shape comments: B = batch, T = time, F = features, H = units.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def merge_pair(f, b, mode: str):
    """Join the forward and backward halves of a bidirectional layer (Keras merge_mode)."""
    if mode == "concat":
        return torch.cat([f, b], dim=-1)  # (..., 2H)
    if mode == "sum":
        return f + b
    if mode == "mul":
        return f * b
    if mode == "ave":
        return (f + b) * 0.5
    raise ValueError(f"Invalid merge mode. Received: {mode!r}")


class Recurrent(nn.Module):
    """GRU / LSTM / SimpleRNN with Keras semantics on top of one fused torch call.

    - bidirectional + return_sequences: torch already returns the backward half re-aligned in time
      (position t holds the backward state that has seen t..T-1), exactly Keras' Bidirectional.
    - bidirectional, last state: forward state at T-1 joined with backward state at t=0, i.e. h_n,
      never out[:, -1] (whose backward half has seen a single step).
    - go_backwards (one direction): the sequence is processed reversed and, with
      return_sequences, the outputs stay in reversed time order (Keras semantics).
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        units: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        merge_mode: str = "concat",
        return_sequences: bool = False,
        go_backwards: bool = False,
        dropout: float = 0.0,
        nonlinearity: str = "tanh",
    ):
        super().__init__()
        kwargs = dict(
            input_size=input_size,
            hidden_size=units,
            num_layers=num_layers,
            bidirectional=bidirectional,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.rnn: nn.RNNBase
        if cell == "GRU":
            self.rnn = nn.GRU(**kwargs)
        elif cell == "LSTM":
            self.rnn = nn.LSTM(**kwargs)
        else:
            self.rnn = nn.RNN(nonlinearity=nonlinearity, **kwargs)
        self.is_lstm = cell == "LSTM"
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.return_sequences = return_sequences
        self.go_backwards = go_backwards

    def forward(self, x, mask=None):  # x: (B, T, F); mask: (B, T), True at real steps
        if mask is not None:
            return self._masked(x, mask)
        if self.go_backwards:
            x = torch.flip(x, dims=[1])
        out, h = self.rnn(x)  # out: (B, T, D*H); h: (L*D, B, H)
        if self.is_lstm:
            h = h[0]
        if self.return_sequences:
            if self.bidirectional and self.merge_mode != "concat":
                f, b = out.chunk(2, dim=-1)  # (B, T, H) each, already aligned in time
                return merge_pair(f, b, self.merge_mode)
            return out  # (B, T, D*H)
        if self.bidirectional:
            return merge_pair(h[-2], h[-1], self.merge_mode)  # (B, 2H) or (B, H)
        return h[-1]  # (B, H)

    def _masked(self, x, mask):
        """Keras masking, without packed sequences (so the ONNX export carries it): masked steps are skipped.
        The real steps move to the front in time order (a scatter: trailing, leading and inner padding alike),
        and each direction runs over the padded batch from the zero state: the forward one's last state is
        its output at step length-1; the backward one reads each sequence reversed within its own length
        (idx[t] = length-1-t for t < length, else t), so it starts at the last real step, and is reversed back.
        Padding sits after every sequence's real steps and never reaches the states that are read."""
        if self.go_backwards:  # Keras reverses the steps and the mask, then skips the masked ones
            x, mask = torch.flip(x, dims=[1]), torch.flip(mask, dims=[1])
        real = mask.to(torch.int64)  # (B, T)
        seen = torch.cumsum(real, dim=1)  # real steps up to and including t
        lengths = seen[:, -1:]  # (B, 1)
        front = torch.where(mask, seen - 1, lengths + torch.cumsum(1 - real, dim=1) - 1)  # where step t goes
        seq = torch.zeros_like(x).scatter(1, front.unsqueeze(-1).expand_as(x), x)  # real steps first
        t = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
        within = torch.where(t < lengths, lengths - 1 - t, t)  # reverses each sequence within its length
        units = self.rnn.hidden_size
        for layer in range(self.rnn.num_layers):
            out = self._direction(seq, layer, "")  # (B, T, H)
            if self.bidirectional:
                back = self._direction(self._steps(seq, within), layer, "_reverse")
                out = torch.cat([out, self._steps(back, within)], dim=-1)  # (B, T, 2H), aligned in time
            if layer + 1 < self.rnn.num_layers and self.rnn.dropout > 0:
                out = F.dropout(out, self.rnn.dropout, self.training)
            seq = out
        if not self.return_sequences:
            kept = (lengths > 0).to(seq.dtype)  # an all-padding sequence keeps the zero state
            forward = self._steps(seq[..., :units], self._at_least_0(lengths - 1))[:, 0] * kept  # (B, H): step length-1
            if self.bidirectional:  # the backward state after the first real step: position 0
                return merge_pair(forward, seq[:, 0, units:] * kept, self.merge_mode)  # (B, 2H) or (B, H)
            return forward  # (B, H)
        out = self._steps(seq, self._at_least_0(seen - 1))  # each real step's output back at its place (B, T, D*H)
        if self.bidirectional:  # Keras' Bidirectional: zeros at masked steps
            out = out * mask.unsqueeze(-1).to(out.dtype)
            if self.merge_mode != "concat":
                f, b = out.chunk(2, dim=-1)
                return merge_pair(f, b, self.merge_mode)
            return out
        return out * (seen > 0).unsqueeze(-1).to(out.dtype)  # one way: a masked step repeats the last output

    @staticmethod
    def _at_least_0(idx):  # max(idx, 0) as a Where: ONNX Clip takes integers only from opset 12
        return torch.where(idx > 0, idx, torch.zeros_like(idx))

    @staticmethod
    def _steps(x, idx):  # x (B, T, F) at steps idx (B, T') per sample: (B, T', F)
        return torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))

    def _direction(self, x, layer: int, suffix: str):  # (B, T, F) -> (B, T, H): one direction of one layer
        rnn = self.rnn
        names = [f"weight_ih_l{layer}{suffix}", f"weight_hh_l{layer}{suffix}"]
        if rnn.bias:
            names += [f"bias_ih_l{layer}{suffix}", f"bias_hh_l{layer}{suffix}"]
        weights = [getattr(rnn, name) for name in names]
        h0 = x.new_zeros(1, x.shape[0], rnn.hidden_size)
        args = (weights, rnn.bias, 1, 0.0, self.training, False, True)  # one layer, one direction, batch first
        if self.is_lstm:
            return torch._VF.lstm(x, (h0, h0), *args)[0]
        if isinstance(rnn, nn.GRU):
            return torch._VF.gru(x, h0, *args)[0]
        run = torch._VF.rnn_relu if rnn.nonlinearity == "relu" else torch._VF.rnn_tanh
        return run(x, h0, *args)[0]


class Embedding(nn.Module):
    """Keras Embedding: (B, T, 1) token ids -> (B, T, output_dim). mask_zero: id 0 is padding (mask_of)."""

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(input_dim, output_dim)
        self.mask_zero = mask_zero

    def forward(self, x):  # (B, T, 1) ids (int64, or floats holding whole numbers)
        return self.embedding(x[..., 0].long())  # (B, T, output_dim)

    def mask_of(self, x):  # (B, T): True at real steps
        return x[..., 0] != 0


class Masking(nn.Module):
    """Keras Masking: a step whose features all equal mask_value is padding; it is zeroed, and mask_of
    tells the recurrent layers downstream to skip it."""

    def __init__(self, mask_value: float = 0.0):
        super().__init__()
        self.mask_value = mask_value

    def forward(self, x):  # (B, T, F)
        return x * self.mask_of(x).unsqueeze(-1).to(x.dtype)

    def mask_of(self, x):  # (B, T): True at real steps
        return (x != self.mask_value).any(dim=-1)


class Activation(nn.Module):
    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def forward(self, x):
        if self.name == "relu":
            return F.relu(x)
        if self.name == "tanh":
            return torch.tanh(x)
        if self.name == "sigmoid":
            return torch.sigmoid(x)
        if self.name == "gelu":
            return F.gelu(x)
        if self.name == "softmax":
            return torch.softmax(x, dim=-1)
        return x  # linear


class Dense(nn.Module):
    """Linear map on the last axis (per time step on a sequence, as in Keras 3) + activation."""

    def __init__(self, in_features: int, units: int, activation: str = "linear", use_bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(in_features, units, bias=use_bias)
        self.activation = Activation(activation)

    def forward(self, x):  # (..., F) -> (..., units)
        return self.activation(self.linear(x))


class Conv1D(nn.Module):
    """Keras Conv1D on (B, T, F) -> (B, T', filters): zero padding in time, then torch's Conv1d.

    `pad` = (left, right) zeros, worked out from Keras' padding by the block definition: causal =
    ((kernel_size - 1) * dilation_rate, 0), so step t sees steps <= t; same = centered, the odd one on
    the right (TF); valid = (0, 0).
    """

    def __init__(
        self,
        in_features: int,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        dilation_rate: int = 1,
        pad: tuple = (0, 0),
        activation: str = "linear",
        use_bias: bool = True,
    ):
        super().__init__()
        self.pad = tuple(pad)
        self.conv = nn.Conv1d(in_features, filters, kernel_size, stride=strides, dilation=dilation_rate, bias=use_bias)
        self.activation = Activation(activation)

    def forward(self, x):  # (B, T, F)
        x = x.transpose(1, 2)  # (B, F, T): torch convolves the last axis
        if self.pad != (0, 0):
            x = F.pad(x, self.pad)
        return self.activation(self.conv(x).transpose(1, 2))  # (B, T', filters)


class Pool1D(nn.Module):
    """Keras MaxPooling1D / AveragePooling1D on (B, T, F) -> (B, T', F).

    `pad` = (left, right) steps of 'same' padding (worked out by the block definition, the odd one on the
    right as in Keras). Padding never takes part in a window: max pads with -inf, and the average divides
    each window's sum by the real steps it covers (Keras' 'same' average, TF semantics).
    """

    def __init__(self, mode: str, pool_size: int, strides: int, pad: tuple = (0, 0)):
        super().__init__()
        self.mode = mode
        self.pool_size = pool_size
        self.strides = strides
        self.pad = tuple(pad)

    def forward(self, x):  # (B, T, F)
        x = x.transpose(1, 2)  # (B, F, T): torch pools the last axis
        if self.mode == "max":
            if self.pad != (0, 0):
                x = F.pad(x, self.pad, value=float("-inf"))
            y = F.max_pool1d(x, self.pool_size, self.strides)
        elif self.pad == (0, 0):
            y = F.avg_pool1d(x, self.pool_size, self.strides)
        else:
            real = F.pad(torch.ones_like(x[:, :1]), self.pad)  # (B, 1, T + pad): 1 where a step is real
            y = F.avg_pool1d(F.pad(x, self.pad), self.pool_size, self.strides) / F.avg_pool1d(
                real, self.pool_size, self.strides
            )
        return y.transpose(1, 2)  # (B, T', F)


class BatchNorm(nn.Module):
    """Keras BatchNormalization over the last (feature) axis of (B, T, F) or (B, F).

    Training: normalizes with the batch's mean and biased variance (over every axis but the last) and
    moves the running statistics as Keras does: running = momentum * running + (1 - momentum) * batch,
    with the biased variance (torch's BatchNorm uses momentum 1 - that and the unbiased variance).
    Eval: uses the running statistics (one ONNX BatchNormalization node).
    """

    def __init__(
        self, features: int, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True, scale: bool = True
    ):
        super().__init__()
        self.momentum = momentum
        self.epsilon = epsilon
        self.weight = nn.Parameter(torch.ones(features)) if scale else None
        self.bias = nn.Parameter(torch.zeros(features)) if center else None
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))

    def forward(self, x):  # (B, T, F) or (B, F)
        if not self.training:
            channels_first = x.transpose(1, 2) if x.dim() == 3 else x  # torch normalizes axis 1
            y = F.batch_norm(
                channels_first, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.epsilon
            )
            return y.transpose(1, 2) if x.dim() == 3 else y
        axes = tuple(range(x.dim() - 1))
        mean = x.mean(dim=axes)
        var = x.var(dim=axes, unbiased=False)
        with torch.no_grad():
            self.running_mean.mul_(self.momentum).add_(mean.detach() * (1 - self.momentum))
            self.running_var.mul_(self.momentum).add_(var.detach() * (1 - self.momentum))
        y = (x - mean) / torch.sqrt(var + self.epsilon)
        if self.weight is not None:
            y = y * self.weight
        return y + self.bias if self.bias is not None else y


class RepeatVector(nn.Module):
    """Keras RepeatVector: (B, F) -> (B, n, F), the same vector at every step (encoder-decoder models)."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):  # (B, F)
        return x.unsqueeze(1).repeat(1, self.n, 1)  # (B, n, F)


class Concatenate(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=-1)


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class GlobalPool1D(nn.Module):
    """(B, T, F) -> (B, F): mean or max over time."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        if self.mode == "max":
            return x.amax(dim=1)
        return x.mean(dim=1)


class Flatten(nn.Module):
    def forward(self, x):  # (B, T, F) -> (B, T*F)
        return torch.flatten(x, start_dim=1)


class SelfAttention(nn.Module):
    """Multi-head self-attention over time (Keras MultiHeadAttention with query = value = x).

    Output has the input's width, so it can sit between recurrent blocks or feed an Add.
    """

    def __init__(
        self,
        width: int,
        num_heads: int,
        key_dim: int,
        dropout: float = 0.0,
        causal: bool = False,
        use_bias: bool = True,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.dropout = dropout
        self.causal = causal
        inner = num_heads * key_dim
        self.query = nn.Linear(width, inner, bias=use_bias)
        self.key = nn.Linear(width, inner, bias=use_bias)
        self.value = nn.Linear(width, inner, bias=use_bias)
        self.output = nn.Linear(inner, width, bias=use_bias)

    def forward(self, x):  # (B, T, F)
        b, t = x.shape[0], x.shape[1]
        q = self.query(x).view(b, t, self.num_heads, self.key_dim).transpose(1, 2)  # (B, h, T, k)
        k = self.key(x).view(b, t, self.num_heads, self.key_dim).transpose(1, 2)
        v = self.value(x).view(b, t, self.num_heads, self.key_dim).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.key_dim)  # (B, h, T, T)
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(b, t, self.num_heads * self.key_dim)
        return self.output(out)  # (B, T, F)
