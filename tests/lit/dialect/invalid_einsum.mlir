// Verifier tests for tessel.einsum: one split section per message of the
// equation parser (Einsum.cpp) and of the shape check against the operands.
//
// RUN: tessel-opt %s -split-input-file -verify-diagnostics

// Implicit (NumPy-style) equations are not accepted: the output must be spelled out.
func.func @implicit(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{equation 'ij,jk' must be explicit: 'inputs->output'}}
  %0 = tessel.einsum "ij,jk" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// Broadcasting with ... is not supported.
func.func @ellipsis_input(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{ellipsis ('...') in input term 0 is not supported}}
  %0 = tessel.einsum "...j,jk->...k" %a, %b
      : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// Nor in the output (the inputs here are valid).
func.func @ellipsis_output(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{ellipsis ('...') in the output term is not supported}}
  %0 = tessel.einsum "ij,jk->.k" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// Labels are letters; digits are rejected.
func.func @bad_character_input(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{invalid character '1' in input term 1; labels are letters a-z, A-Z}}
  %0 = tessel.einsum "ij,j1->i1" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// A second arrow ends up in the output term.
func.func @bad_character_output(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{invalid character '-' in the output term; labels are letters a-z, A-Z}}
  %0 = tessel.einsum "ij,jk->k->i" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// A repeated label in one term (a diagonal or trace) is not supported.
func.func @repeated_input_label(%a: tensor<4x4xf32>) {
  // expected-error @+1 {{label 'i' repeats in input term 0; repeated labels (diagonals) are not supported}}
  %0 = tessel.einsum "ii->i" %a : (tensor<4x4xf32>) -> tensor<4xf32>
  return
}

// -----

// A label may appear only once in the output.
func.func @repeated_output_label(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{label 'i' repeats in the output term; repeated labels (diagonals) are not supported}}
  %0 = tessel.einsum "ij,jk->iki" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// Every output label must come from some input.
func.func @output_label_missing(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{output label 'z' does not appear in any input}}
  %0 = tessel.einsum "ij,jk->iz" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// Every input must be f32.
func.func @input_type(%a: tensor<4x6xf32>, %b: tensor<6x3xf16>) {
  // expected-error @+1 {{every input must have f32 elements, got 'f16'}}
  %0 = tessel.einsum "ij,jk->ik" %a, %b : (tensor<4x6xf32>, tensor<6x3xf16>) -> tensor<4x3xf32>
  return
}

// -----

// One operand per input term.
func.func @too_few_operands(%a: tensor<4x6xf32>) {
  // expected-error @+1 {{equation has 2 input terms but 1 operands were given}}
  %0 = tessel.einsum "ij,jk->ik" %a : (tensor<4x6xf32>) -> tensor<4x3xf32>
  return
}

// -----

// One operand per input term (three operands, two terms).
func.func @too_many_operands(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>, %c: tensor<3xf32>) {
  // expected-error @+1 {{equation has 2 input terms but 3 operands were given}}
  %0 = tessel.einsum "ij,jk->ik" %a, %b, %c
      : (tensor<4x6xf32>, tensor<6x3xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// One label per operand dimension.
func.func @rank_mismatch(%a: tensor<4x6xf32>, %b: tensor<6x3x2xf32>) {
  // expected-error @+1 {{input term 1 'jk' has 2 labels but operand 1 has rank 3}}
  %0 = tessel.einsum "ij,jk->ik" %a, %b : (tensor<4x6xf32>, tensor<6x3x2xf32>) -> tensor<4x3xf32>
  return
}

// -----

// A contracted label must have the same extent in every operand.
func.func @extent_mismatch(%a: tensor<4x6xf32>, %b: tensor<5x3xf32>) {
  // expected-error @+1 {{label 'j' has extent 6 in one place and 5 in operand 1}}
  %0 = tessel.einsum "ij,jk->ik" %a, %b : (tensor<4x6xf32>, tensor<5x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

// A dynamic extent agrees with anything, but the first static one then binds the label.
func.func @extent_mismatch_after_dynamic(%a: tensor<4x?xf32>, %b: tensor<6x3xf32>,
    %c: tensor<5x2xf32>) {
  // expected-error @+1 {{label 'j' has extent 6 in one place and 5 in operand 2}}
  %0 = tessel.einsum "ij,jk,jl->ikl" %a, %b, %c
      : (tensor<4x?xf32>, tensor<6x3xf32>, tensor<5x2xf32>) -> tensor<4x3x2xf32>
  return
}

// -----

// The result shape follows the output term (here a transposed result).
func.func @result_shape(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{result must have shape [4, 3] (from 'ik'), got [3, 4]}}
  %0 = tessel.einsum "ij,jk->ik" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<3x4xf32>
  return
}

// -----

// The result is f32.
func.func @result_type(%a: tensor<4x6xf32>, %b: tensor<6x3xf32>) {
  // expected-error @+1 {{result must have 'f32' elements, got 'f16'}}
  %0 = tessel.einsum "ij,jk->ik" %a, %b : (tensor<4x6xf32>, tensor<6x3xf32>) -> tensor<4x3xf16>
  return
}
