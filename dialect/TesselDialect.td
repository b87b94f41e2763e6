//===- TesselDialect.td - the tessel dialect and its attributes -*- tablegen -*-===//
//
// The dialect declaration and the enum attributes shared by its ops.
//
//===----------------------------------------------------------------------===//

#ifndef TESSEL_DIALECT_TD
#define TESSEL_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Tessel_Dialect : Dialect {
  let name = "tessel";
  let cppNamespace = "::tessel";
  let summary = "Transformer building blocks: attention, norms, FFN, MoE, RoPE, einsum.";
  let description = [{
    The `tessel` dialect expresses a transformer model by meaning, not by loops.
    Ops take and return ranked tensors with value semantics; f32 activations
    and weights, integer token ids and positions, `i1` masks.

    Layout conventions, shared by every op:
      * activations are `[..., features]`; the last dimension is the one a
        norm, linear, FFN or MoE works on;
      * per-head tensors are `[batch, seq, heads, head_dim]` (`bqhd`);
      * linear weights use the PyTorch layout `[out_features, in_features]`.

    Every op has reference semantics, implemented by the reference evaluator
    in `reference/` and checked against PyTorch goldens (`tests/golden`).
  }];
  let useDefaultAttributePrinterParser = 1;
}

class Tessel_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Tessel_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Tessel_RopeLayout : I32EnumAttr<"RopeLayout",
    "which features of a head RoPE rotates together", [
      // Pairs (x[2i], x[2i+1]): GPT-J, llama2.c, DeepSeek's decoupled RoPE.
      I32EnumAttrCase<"interleaved", 0>,
      // Pairs (x[i], x[i + d/2]): HF LLaMA/NeoX "rotate_half".
      I32EnumAttrCase<"half_split", 1>]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::tessel";
}
def Tessel_RopeLayoutAttr : EnumAttr<Tessel_Dialect, Tessel_RopeLayout, "rope_layout"> {
  let assemblyFormat = "`<` $value `>`";
}

def Tessel_Activation : I32EnumAttr<"Activation",
    "FFN activation; the *_gated forms multiply by a gate projection", [
      I32EnumAttrCase<"relu", 0>,
      I32EnumAttrCase<"gelu", 1>,
      I32EnumAttrCase<"silu", 2>,
      // SwiGLU: silu(x W_gate^T) * (x W_up^T)  (LLaMA, Mistral, Qwen2, Mixtral).
      I32EnumAttrCase<"swiglu", 3>,
      // GeGLU: gelu(x W_gate^T) * (x W_up^T)  (Gemma).
      I32EnumAttrCase<"geglu", 4>]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::tessel";
}
def Tessel_ActivationAttr : EnumAttr<Tessel_Dialect, Tessel_Activation, "activation"> {
  let assemblyFormat = "`<` $value `>`";
}

def Tessel_MoeScoring : I32EnumAttr<"MoeScoring",
    "how MoE router logits become expert scores", [
      I32EnumAttrCase<"softmax", 0>,   // Mixtral, DeepSeek-V2
      I32EnumAttrCase<"sigmoid", 1>]> {// DeepSeek-V3
  let genSpecializedAttr = 0;
  let cppNamespace = "::tessel";
}
def Tessel_MoeScoringAttr : EnumAttr<Tessel_Dialect, Tessel_MoeScoring, "moe_scoring"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // TESSEL_DIALECT_TD
