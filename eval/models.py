"""Small PyTorch re-implementations of three Hugging Face architectures whose
state_dict keys and tensor layouts match transformers' exactly:

  ViTForImageClassification   vit.encoder.layer.N.attention.attention.query.weight ...
  LlamaForCausalLM            model.layers.N.self_attn.q_proj.weight ...
  BertForSequenceClassification  bert.encoder.layer.N.attention.self.query.weight ...

Linear weights are [out_features, in_features] as in nn.Linear, so a checkpoint
written from these modules is laid out like a real HF checkpoint. Each config is
a plain dict in HF config.json vocabulary; `infer_config` rebuilds it from tensor
shapes so a bare .safetensors file (e.g. one rebuilt by deltacodec) can be loaded
without its config.json. Convention: head_dim = 64 (hidden 128 -> 2 heads,
hidden 256 -> 4 heads).
"""
from __future__ import annotations

import math
import re
from typing import Dict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HEAD_DIM = 64


def _attention(q, k, v, n_heads, mask=None, causal=False):
    """q,k,v: [B, T, H] -> [B, T, H]. mask: [B, T] bool (True = keep)."""
    B, T, H = q.shape
    d = H // n_heads
    q = q.view(B, T, n_heads, d).transpose(1, 2)
    k = k.view(B, T, n_heads, d).transpose(1, 2)
    v = v.view(B, T, n_heads, d).transpose(1, 2)
    att = (q @ k.transpose(-1, -2)) / math.sqrt(d)
    if causal:
        cm = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
        att = att.masked_fill(cm, float("-inf"))
    if mask is not None:
        att = att.masked_fill(~mask[:, None, None, :], float("-inf"))
    att = att.softmax(-1)
    return (att @ v).transpose(1, 2).reshape(B, T, H)


# --------------------------------------------------------------------------- ViT
class _ViTSelfAttn(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)


class _Dense(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)


class _ViTAttention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.attention = _ViTSelfAttn(h)
        self.output = _Dense(h, h)


class _ViTLayer(nn.Module):
    def __init__(self, h, inter, heads):
        super().__init__()
        self.heads = heads
        self.attention = _ViTAttention(h)
        self.intermediate = _Dense(h, inter)
        self.output = _Dense(inter, h)
        self.layernorm_before = nn.LayerNorm(h, eps=1e-12)
        self.layernorm_after = nn.LayerNorm(h, eps=1e-12)

    def forward(self, x):
        y = self.layernorm_before(x)
        a = self.attention.attention
        y = _attention(a.query(y), a.key(y), a.value(y), self.heads)
        x = x + self.attention.output.dense(y)
        y = self.layernorm_after(x)
        y = self.output.dense(F.gelu(self.intermediate.dense(y)))
        return x + y


class _ViTPatch(nn.Module):
    def __init__(self, h, p, c):
        super().__init__()
        self.projection = nn.Conv2d(c, h, kernel_size=p, stride=p)


class _ViTEmbeddings(nn.Module):
    def __init__(self, h, p, c, image):
        super().__init__()
        n = (image // p) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, h))
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, h) * 0.02)
        self.patch_embeddings = _ViTPatch(h, p, c)

    def forward(self, x):
        x = self.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], 1) + self.position_embeddings


class _ViTEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList(_ViTLayer(cfg["hidden_size"], cfg["intermediate_size"],
                                             cfg["num_attention_heads"])
                                   for _ in range(cfg["num_hidden_layers"]))


class _ViTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.embeddings = _ViTEmbeddings(h, cfg["patch_size"], cfg["num_channels"], cfg["image_size"])
        self.encoder = _ViTEncoder(cfg)
        self.layernorm = nn.LayerNorm(h, eps=1e-12)


class ViTForImageClassification(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.vit = _ViTModel(cfg)
        self.classifier = nn.Linear(cfg["hidden_size"], cfg["num_labels"])

    def forward(self, x):
        h = self.vit.embeddings(x)
        for layer in self.vit.encoder.layer:
            h = layer(h)
        return self.classifier(self.vit.layernorm(h)[:, 0])


def vit_config(hidden=256, layers=4, inter=512, patch=7, labels=10, image=28):
    return {"model_type": "vit", "architectures": ["ViTForImageClassification"],
            "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": hidden // HEAD_DIM, "intermediate_size": inter,
            "hidden_act": "gelu", "layer_norm_eps": 1e-12, "image_size": image,
            "patch_size": patch, "num_channels": 1, "num_labels": labels,
            "qkv_bias": True}


# ------------------------------------------------------------------------- Llama
class LlamaRMSNorm(nn.Module):
    def __init__(self, h, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(h))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class _LlamaAttn(nn.Module):
    def __init__(self, h, heads, theta):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(h, h, bias=False)
        self.k_proj = nn.Linear(h, h, bias=False)
        self.v_proj = nn.Linear(h, h, bias=False)
        self.o_proj = nn.Linear(h, h, bias=False)
        d = h // heads
        self.register_buffer("inv_freq", 1.0 / theta ** (torch.arange(0, d, 2).float() / d),
                             persistent=False)

    def forward(self, x):
        B, T, H = x.shape
        d = H // self.heads
        q = self.q_proj(x).view(B, T, self.heads, d).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.heads, d).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.heads, d).transpose(1, 2)
        t = torch.arange(T, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos(), emb.sin()
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        cm = torch.ones(T, T, dtype=torch.bool).triu(1)
        att = att.masked_fill(cm, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, H)
        return self.o_proj(y)


class _LlamaMLP(nn.Module):
    def __init__(self, h, inter):
        super().__init__()
        self.gate_proj = nn.Linear(h, inter, bias=False)
        self.up_proj = nn.Linear(h, inter, bias=False)
        self.down_proj = nn.Linear(inter, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _LlamaLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.self_attn = _LlamaAttn(h, cfg["num_attention_heads"], cfg["rope_theta"])
        self.mlp = _LlamaMLP(h, cfg["intermediate_size"])
        self.input_layernorm = LlamaRMSNorm(h, cfg["rms_norm_eps"])
        self.post_attention_layernorm = LlamaRMSNorm(h, cfg["rms_norm_eps"])

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class _LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(_LlamaLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = LlamaRMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = _LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids):
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x)
        return self.lm_head(self.model.norm(x))


def llama_config(hidden=256, layers=4, inter=688, vocab=256, ctx=256):
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"],
            "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": hidden // HEAD_DIM, "num_key_value_heads": hidden // HEAD_DIM,
            "intermediate_size": inter, "vocab_size": vocab, "hidden_act": "silu",
            "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "max_position_embeddings": ctx,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16",
            "tokenizer": "bytes (token id = byte value)"}


# -------------------------------------------------------------------------- BERT
class _BertSelf(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.query = nn.Linear(h, h)
        self.key = nn.Linear(h, h)
        self.value = nn.Linear(h, h)


class _DenseLN(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)
        self.LayerNorm = nn.LayerNorm(o, eps=1e-12)


class _BertAttention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.self = _BertSelf(h)
        self.output = _DenseLN(h, h)


class _BertLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, inter = cfg["hidden_size"], cfg["intermediate_size"]
        self.heads = cfg["num_attention_heads"]
        self.attention = _BertAttention(h)
        self.intermediate = _Dense(h, inter)
        self.output = _DenseLN(inter, h)

    def forward(self, x, mask):
        s = self.attention.self
        y = _attention(s.query(x), s.key(x), s.value(x), self.heads, mask)
        o = self.attention.output
        x = o.LayerNorm(x + o.dense(y))
        y = self.output.dense(F.gelu(self.intermediate.dense(x)))
        return self.output.LayerNorm(x + y)


class _BertEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h)
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)

    def forward(self, ids):
        T = ids.shape[1]
        pos = torch.arange(T)
        x = self.word_embeddings(ids) + self.position_embeddings(pos)[None] + \
            self.token_type_embeddings.weight[0]
        return self.LayerNorm(x)


class _BertEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList(_BertLayer(cfg) for _ in range(cfg["num_hidden_layers"]))


class _BertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = _BertEmbeddings(cfg)
        self.encoder = _BertEncoder(cfg)
        self.pooler = _Dense(cfg["hidden_size"], cfg["hidden_size"])

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return x


class BertForSequenceClassification(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.bert = _BertModel(cfg)
        self.classifier = nn.Linear(cfg["hidden_size"], cfg["num_labels"])
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear):
                    nn.init.zeros_(m.bias)

    def forward(self, ids, mask):
        x = self.bert(ids, mask)
        pooled = torch.tanh(self.bert.pooler.dense(x[:, 0]))
        return self.classifier(pooled)


class BertMLMHead(nn.Module):
    """Pre-training head (not saved in classification checkpoints, as in HF)."""

    def __init__(self, cfg, word_embeddings):
        super().__init__()
        h = cfg["hidden_size"]
        self.dense = nn.Linear(h, h)
        self.LayerNorm = nn.LayerNorm(h, eps=1e-12)
        self.bias = nn.Parameter(torch.zeros(cfg["vocab_size"]))
        self.emb = word_embeddings

    def forward(self, x):
        x = self.LayerNorm(F.gelu(self.dense(x)))
        return x @ self.emb.weight.t() + self.bias


def bert_config(hidden=256, layers=4, inter=512, vocab=260, ctx=128, labels=4):
    return {"model_type": "bert", "architectures": ["BertForSequenceClassification"],
            "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": hidden // HEAD_DIM, "intermediate_size": inter,
            "vocab_size": vocab, "max_position_embeddings": ctx, "type_vocab_size": 2,
            "hidden_act": "gelu", "layer_norm_eps": 1e-12, "num_labels": labels,
            "tokenizer": "bytes: id = byte + 4; 0=[PAD] 1=[CLS] 2=[SEP] 3=[MASK]"}


# ---------------------------------------------------------------- shared helpers
ARCH = {"vit": ViTForImageClassification, "llama": LlamaForCausalLM,
        "bert": BertForSequenceClassification}


def _layers(names, pattern):
    idx = {int(m.group(1)) for n in names for m in [re.match(pattern, n)] if m}
    return max(idx) + 1 if idx else 0


def infer_config(kind: str, t: Dict[str, np.ndarray]) -> dict:
    """Rebuild the config from tensor shapes (HF names)."""
    names = list(t)
    if kind == "vit":
        w = t["vit.embeddings.patch_embeddings.projection.weight"]
        h, c, p, _ = w.shape
        n_tok = t["vit.embeddings.position_embeddings"].shape[1] - 1
        image = int(round(math.sqrt(n_tok))) * p
        cfg = vit_config(hidden=h, layers=_layers(names, r"vit\.encoder\.layer\.(\d+)\."),
                         inter=t["vit.encoder.layer.0.intermediate.dense.weight"].shape[0],
                         patch=p, labels=t["classifier.weight"].shape[0], image=image)
        cfg["num_channels"] = c
        return cfg
    if kind == "llama":
        v, h = t["model.embed_tokens.weight"].shape
        return llama_config(hidden=h, layers=_layers(names, r"model\.layers\.(\d+)\."),
                            inter=t["model.layers.0.mlp.gate_proj.weight"].shape[0], vocab=v)
    if kind == "bert":
        v, h = t["bert.embeddings.word_embeddings.weight"].shape
        return bert_config(hidden=h, layers=_layers(names, r"bert\.encoder\.layer\.(\d+)\."),
                           inter=t["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
                           vocab=v, ctx=t["bert.embeddings.position_embeddings.weight"].shape[0],
                           labels=t["classifier.weight"].shape[0])
    raise ValueError(kind)


def build(kind: str, cfg: dict) -> nn.Module:
    return ARCH[kind](cfg)


def to_numpy_state(model: nn.Module) -> Dict[str, np.ndarray]:
    return {k: v.detach().cpu().float().numpy().copy() for k, v in model.state_dict().items()}


def load_state(model: nn.Module, tensors: Dict[str, np.ndarray]) -> nn.Module:
    sd = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"checkpoint mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model
