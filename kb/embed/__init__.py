"""Sentence embeddings, offline.

base (the Encoder protocol and the agreement check, numpy only) <- models (where a model's files are)
<- onnx (the ONNX Runtime query encoder) / reference (sentence-transformers on torch) <- export (the
one-time ONNX export, verified against the reference) <- choose (which of them serves).
"""
from kb.embed.base import Encoder
from kb.embed.choose import BuildEncoder, current_model_digest, encoder_record, load_build_encoder, load_encoder
from kb.embed.models import locate_model, resolve_model_path
from kb.embed.torch_encoder import SentenceTransformerEncoder, cpu_has_native_bf16

__all__ = ["BuildEncoder", "Encoder", "SentenceTransformerEncoder", "cpu_has_native_bf16", "current_model_digest", "encoder_record", "load_build_encoder",
           "load_encoder", "locate_model", "resolve_model_path"]
