//===- PlanMemory.cpp - static buffer reuse after bufferization -----------===//
//
// See TesselPlanMemory in Passes.td.
//
// Three steps on the entry block of each function:
//   1. analyse: every `memref.alloc` with its aliases, its live range (op
//      positions in the block) and its size as `bytes * product(symbols)`;
//      a buffer whose aliases might escape is left alone;
//   2. assign: largest first, each buffer takes a slot none of whose
//      occupants is live during its range and whose size has the same
//      dynamic extents, or starts a new slot;
//   3. rewrite: a slot whose occupants all have one shape keeps the
//      earliest occupant's alloc and the others use it; any other slot
//      becomes one byte buffer that each occupant views (`memref.view`).
// Then `tessel.memory_plan` on the function records what was done.
//
// The analysis is deliberately conservative: a wrong reuse silently corrupts
// activations, a missed one only costs memory.
//
//===----------------------------------------------------------------------===//
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "passes/Passes.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

namespace tessel {
#define GEN_PASS_DEF_TESSELPLANMEMORY
#include "passes/Passes.h.inc"
} // namespace tessel

using namespace mlir;

namespace tessel {
namespace {

//===----------------------------------------------------------------------===//
// Sizes
//===----------------------------------------------------------------------===//

/// A dynamic extent, named so that equal names mean equal values at run
/// time: dimension `second` of the memref `first` (a memref's shape never
/// changes), or the index value `first` itself (`second` = -1).
using Symbol = std::pair<Value, int64_t>;

bool symbolLess(const Symbol &a, const Symbol &b) {
  if (a.first != b.first)
    return a.first.getAsOpaquePointer() < b.first.getAsOpaquePointer();
  return a.second < b.second;
}

/// An extent: a constant or a symbol.
struct Extent {
  std::optional<int64_t> constant;
  Symbol symbol;
};

// Bufferized IR recomputes the sequence length everywhere: `memref.dim
// %arg0, %c1` several times, the row count of a collapse_shape of a buffer
// allocated with it, an expand_shape's output_shape operand. Following
// these back to their origin lets buffers of one layer share slots with
// those of the next although their alloc operands are different SSA values.
// Recursion is bounded; past the bound an extent is its own symbol, which is
// always sound (it only misses equalities).
constexpr int kMaxResolveDepth = 32;

Extent resolveDim(Value memref, int64_t dim, int depth);

Extent resolveValue(Value v, int depth) {
  APInt c;
  if (matchPattern(v, m_ConstantInt(&c)))
    return {c.getSExtValue(), {}};
  if (depth < kMaxResolveDepth)
    if (auto dim = v.getDefiningOp<memref::DimOp>())
      if (std::optional<int64_t> index = dim.getConstantIndex())
        return resolveDim(dim.getSource(), *index, depth + 1);
  return {std::nullopt, {v, -1}};
}

Extent resolveMixed(OpFoldResult size, int depth) {
  if (auto attr = dyn_cast<Attribute>(size))
    return {cast<IntegerAttr>(attr).getInt(), {}};
  return resolveValue(cast<Value>(size), depth);
}

Extent resolveDim(Value memref, int64_t dim, int depth) {
  auto type = dyn_cast<MemRefType>(memref.getType());
  Extent opaque{std::nullopt, {memref, dim}};
  if (!type || dim < 0 || dim >= type.getRank())
    return opaque;
  if (!type.isDynamicDim(dim))
    return {type.getDimSize(dim), {}};
  if (depth >= kMaxResolveDepth)
    return opaque;
  Operation *def = memref.getDefiningOp();
  if (!def)
    return opaque; // a block argument: the symbol is (argument, dim)
  if (auto alloc = dyn_cast<memref::AllocOp>(def))
    return resolveValue(alloc.getDynamicSizes()[type.getDynamicDimIndex(dim)], depth + 1);
  if (auto alloca = dyn_cast<memref::AllocaOp>(def))
    return resolveValue(alloca.getDynamicSizes()[type.getDynamicDimIndex(dim)], depth + 1);
  if (auto castOp = dyn_cast<memref::CastOp>(def))
    return resolveDim(castOp.getSource(), dim, depth + 1);
  if (auto expand = dyn_cast<memref::ExpandShapeOp>(def))
    return resolveMixed(expand.getMixedOutputShape()[dim], depth + 1);
  if (auto collapse = dyn_cast<memref::CollapseShapeOp>(def)) {
    // A group of source dims whose only dynamic member is multiplied by
    // static 1s has that member's extent (`[1, ?] -> [?]`).
    MemRefType source = collapse.getSrcType();
    std::optional<int64_t> dynamicMember;
    int64_t staticProduct = 1;
    for (int64_t d : collapse.getReassociationIndices()[dim]) {
      if (!source.isDynamicDim(d)) {
        staticProduct *= source.getDimSize(d);
      } else if (dynamicMember) {
        return opaque;
      } else {
        dynamicMember = d;
      }
    }
    if (dynamicMember && staticProduct == 1)
      return resolveDim(collapse.getSrc(), *dynamicMember, depth + 1);
    return opaque;
  }
  if (auto subview = dyn_cast<memref::SubViewOp>(def)) {
    // Rank-reducing subviews renumber dimensions; not worth following.
    if (subview.getSourceType().getRank() != type.getRank())
      return opaque;
    return resolveMixed(subview.getMixedSizes()[dim], depth + 1);
  }
  if (auto view = dyn_cast<memref::ViewOp>(def))
    return resolveValue(view.getSizes()[type.getDynamicDimIndex(dim)], depth + 1);
  return opaque;
}

/// A buffer's size in bytes: `bytes * product(symbols)`.
struct Size {
  int64_t bytes = 0;
  SmallVector<Symbol> symbols; // sorted by symbolLess
};

bool sameSymbols(const Size &a, const Size &b) { return a.symbols == b.symbols; }

/// Bytes per element, if the element type has a size in whole bytes that
/// `memref.view` can address; index is 8 bytes on every host we target.
std::optional<int64_t> elementBytes(Type t) {
  if (t.isIntOrFloat())
    return t.getIntOrFloatBitWidth() % 8 == 0
               ? std::optional<int64_t>(t.getIntOrFloatBitWidth() / 8)
               : std::nullopt;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Buffers: aliases, uses and live ranges
//===----------------------------------------------------------------------===//

struct Buffer {
  memref::AllocOp alloc;
  MemRefType type;
  SmallVector<Extent> dynamicDims; // the alloc's size operands, resolved
  unsigned begin = 0, end = 0;     // positions in the entry block (inclusive)
  Size size;
  bool viewable = false; // may live in a byte slot through memref.view
};

/// Whether `a` and `b` are the same type with equal extents, dimension by
/// dimension, so that one can stand for the other unchanged. (Equal sizes
/// are not enough: `memref<?x?xf32>` of [4, n] and of [n, 4].)
bool sameShape(const Buffer &a, const Buffer &b) {
  if (a.type != b.type)
    return false;
  for (auto [x, y] : llvm::zip_equal(a.dynamicDims, b.dynamicDims))
    if (x.constant != y.constant || (!x.constant && x.symbol != y.symbol))
      return false;
  return true;
}

/// Whether `op` only reads or writes the memory of `operand` while it runs
/// and keeps no reference to it. Accepted, explicitly:
///   memref.load / memref.store (as the memref), memref.copy, memref.dim;
///   linalg structured ops on buffers (ins and outs);
///   func.call of a `tessel_*` function with no results: the Highway
///   kernels' C ABI (codegen/KernelAbi.cpp), which reads its inputs and
///   writes its output during the call (its thread pool joins before it
///   returns) and never keeps a pointer.
bool isPlainAccess(Operation *op, OpOperand &operand) {
  if (auto load = dyn_cast<memref::LoadOp>(op))
    return load.getMemRef() == operand.get();
  if (auto store = dyn_cast<memref::StoreOp>(op))
    return store.getMemRef() == operand.get();
  if (isa<memref::CopyOp, memref::DimOp>(op))
    return true;
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return linalgOp.hasPureBufferSemantics();
  if (auto call = dyn_cast<func::CallOp>(op))
    return call.getCallee().starts_with("tessel_") && call.getNumResults() == 0;
  return false;
}

/// Whether `op` is an alias of its memref operand `operand`: a view (cast,
/// subview, expand/collapse_shape, reinterpret_cast, view, ...) or a
/// crossing between tensors and buffers. Its results are then followed as
/// the buffer itself.
bool isAliasOf(Operation *op, OpOperand &operand) {
  if (auto view = dyn_cast<ViewLikeOpInterface>(op))
    return view.getViewSource() == operand.get();
  return isa<bufferization::ToTensorOp, bufferization::ToBufferOp>(op);
}

/// Ops whose regions run to completion before the op itself completes, so
/// that a use inside them is a use at the op: loops, conditionals, linalg
/// bodies. (Not, say, async.execute, whose body may run later.)
bool isSynchronousRegionHolder(Operation *op) {
  return isa<scf::ForOp, scf::IfOp, scf::WhileOp, scf::ForallOp, scf::ParallelOp,
             scf::IndexSwitchOp, scf::ExecuteRegionOp, linalg::LinalgOp>(op);
}

/// Follows every alias of `buffer.alloc` and sets `buffer.end` to the
/// position of the last op of `entry` that uses one. Returns why the buffer
/// cannot be planned, or "" if it can.
std::string traceUses(Buffer &buffer, Block &entry,
                      const DenseMap<Operation *, unsigned> &position) {
  SmallVector<Value> worklist = {buffer.alloc.getResult()};
  DenseSet<Value> visited;
  buffer.end = buffer.begin;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!visited.insert(v).second)
      continue;
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      Operation *anchor = entry.findAncestorOpInBlock(*user);
      if (!anchor)
        return "used outside the entry block";
      for (Operation *p = user; p != anchor; p = p->getParentOp())
        if (!isSynchronousRegionHolder(p->getParentOp()))
          return ("used inside " + p->getParentOp()->getName().getStringRef()).str();
      buffer.end = std::max(buffer.end, position.lookup(anchor));
      // scf.for carries buffers between iterations (FlashAttention's running
      // max, sum and accumulator): an init operand, the iter_arg it
      // becomes, a value yielded in that place and the loop's result there
      // may all be this buffer (the result is the init itself when the loop
      // runs no iteration), so all are followed as aliases.
      if (auto loop = dyn_cast<scf::ForOp>(user)) {
        if (BlockArgument iterArg = loop.getTiedLoopRegionIterArg(&use)) {
          worklist.push_back(iterArg);
          worklist.push_back(loop.getTiedLoopResult(&use));
          continue;
        }
      }
      if (auto yield = dyn_cast<scf::YieldOp>(user)) {
        if (auto loop = dyn_cast<scf::ForOp>(yield->getParentOp())) {
          worklist.push_back(loop.getRegionIterArgs()[use.getOperandNumber()]);
          worklist.push_back(loop->getResult(use.getOperandNumber()));
          continue;
        }
      }
      if (isAliasOf(user, use)) {
        // Only results that can hold the buffer (not, say, the index
        // results of extract_strided_metadata).
        for (Value r : user->getResults())
          if (isa<BaseMemRefType, TensorType>(r.getType()))
            worklist.push_back(r);
        continue;
      }
      if (!isPlainAccess(user, use))
        return ("escapes through " + user->getName().getStringRef()).str();
    }
  }
  return "";
}

//===----------------------------------------------------------------------===//
// Reporting
//===----------------------------------------------------------------------===//

/// The name a model gave the op that made a buffer ("blk.3.attn_q"), else
/// its line:column.
std::string locationName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  if (auto fused = dyn_cast<FusedLoc>(loc)) {
    for (Location l : fused.getLocations())
      if (std::string n = locationName(l); !n.empty())
        return n;
    return "";
  }
  if (auto site = dyn_cast<CallSiteLoc>(loc))
    return locationName(site.getCallee());
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return llvm::formatv("{0}:{1}", file.getLine(), file.getColumn()).str();
  return "";
}

/// Readable names for symbols: `arg0.dim1` for a dimension of a function
/// argument (the sequence length), `s0`, `s1`, ... for anything else.
class SymbolNames {
public:
  explicit SymbolNames(Block &entry) : entry_(entry) {}

  unsigned id(const Symbol &s) {
    auto [it, inserted] = ids_.try_emplace(s, names_.size());
    if (inserted) {
      auto arg = dyn_cast<BlockArgument>(s.first);
      if (arg && arg.getOwner() == &entry_ && s.second >= 0) {
        names_.push_back(llvm::formatv("arg{0}.dim{1}", arg.getArgNumber(), s.second).str());
      } else {
        std::string name = llvm::formatv("s{0}", opaque_.size()).str();
        std::string what;
        llvm::raw_string_ostream os(what);
        if (Operation *def = s.first.getDefiningOp())
          os << def->getName() << " at " << locationName(def->getLoc());
        else
          os << "a block argument";
        if (s.second >= 0)
          os << ", dim " << s.second;
        opaque_.push_back({name, what});
        names_.push_back(name);
      }
    }
    return it->second;
  }
  const std::string &name(unsigned id) const { return names_[id]; }
  /// The `sN` symbols and what they are.
  const std::vector<std::pair<std::string, std::string>> &opaque() const { return opaque_; }

private:
  Block &entry_;
  DenseMap<Symbol, unsigned> ids_;
  std::vector<std::string> names_;
  std::vector<std::pair<std::string, std::string>> opaque_;
};

/// A byte count as a polynomial in the symbols: monomial (sorted symbol
/// ids) -> coefficient.
using Polynomial = std::map<std::vector<unsigned>, int64_t>;

/// The monomial of `b`'s size. Symbols are named in the order of the
/// dimensions (not of Size::symbols, which is sorted by address), so that
/// names are the same from run to run.
std::vector<unsigned> monomial(const Buffer &b, SymbolNames &names) {
  std::vector<unsigned> m;
  for (const Extent &e : b.dynamicDims)
    if (!e.constant)
      m.push_back(names.id(e.symbol));
  llvm::sort(m);
  return m;
}

std::string format(const Polynomial &p, const SymbolNames &names) {
  // Highest degree first (the per-token terms matter most), then by symbol.
  std::vector<std::pair<std::vector<unsigned>, int64_t>> terms(p.begin(), p.end());
  llvm::stable_sort(terms,
                    [](const auto &a, const auto &b) { return a.first.size() > b.first.size(); });
  std::string out;
  for (const auto &[m, coefficient] : terms) {
    if (coefficient == 0)
      continue;
    if (!out.empty())
      out += " + ";
    out += std::to_string(coefficient);
    for (unsigned id : m)
      out += " * " + names.name(id);
  }
  return out.empty() ? "0" : out;
}

/// A buffer's live range and size, for the statistics.
struct LiveRange {
  unsigned begin, end;
  std::vector<unsigned> monomial;
  int64_t bytes;
};

/// Per monomial, the largest sum of the sizes of the ranges live at one
/// program point. Buffers live at once need distinct slots, and a slot
/// only holds buffers of one monomial, so no plan allocates less for that
/// monomial.
Polynomial peakLive(ArrayRef<LiveRange> ranges) {
  Polynomial peak;
  // The sum only grows where a range begins.
  for (const LiveRange &at : ranges) {
    Polynomial live;
    for (const LiveRange &r : ranges)
      if (r.begin <= at.begin && at.begin <= r.end)
        live[r.monomial] += r.bytes;
    for (const auto &[m, bytes] : live)
      peak[m] = std::max(peak[m], bytes);
  }
  return peak;
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

struct Slot {
  SmallVector<unsigned> occupants; // buffer indices (in program order once assigned)
  int64_t bytes = 0;               // the largest occupant's constant factor
  bool sameShape = true;           // every occupant has the first one's shape
  bool viewable = true;            // every occupant may be a memref.view
};

struct PlanMemoryPass : impl::TesselPlanMemoryBase<PlanMemoryPass> {
  using TesselPlanMemoryBase::TesselPlanMemoryBase;

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    // Live ranges are positions in one block; a function with branches
    // would need real liveness. Bufferized entry points have one block.
    if (!fn.getBody().hasOneBlock())
      return;
    Block &entry = fn.getBody().front();
    DenseMap<Operation *, unsigned> position;
    for (auto [i, op] : llvm::enumerate(entry))
      position[&op] = i;

    // 1. Analyse.
    SmallVector<Buffer> buffers;
    SmallVector<std::pair<memref::AllocOp, std::string>> skipped;
    unsigned numAllocs = 0;
    for (Operation &op : entry) {
      auto alloc = dyn_cast<memref::AllocOp>(op);
      if (!alloc)
        continue;
      ++numAllocs;
      Buffer b;
      b.alloc = alloc;
      b.type = alloc.getType();
      b.begin = position.lookup(alloc);
      std::string why = analyse(b, entry, position);
      if (why.empty())
        buffers.push_back(std::move(b));
      else
        skipped.push_back({alloc, why});
    }

    // 2. Assign, largest buffer first (ties in program order), as
    // TFLite's arena planner does: a slot's size is then set by its first
    // occupant and the smaller buffers fill the gaps between the large
    // ones' lifetimes. (Taking buffers in program order instead lets small
    // buffers open slots that must grow later: on stories260K's @forward,
    // 1952 bytes per token instead of 1648, against a bound of 1200.)
    SmallVector<unsigned> order(buffers.size());
    std::iota(order.begin(), order.end(), 0u);
    llvm::stable_sort(order, [&](unsigned a, unsigned b) {
      return buffers[a].size.bytes > buffers[b].size.bytes;
    });
    SmallVector<Slot> slots;
    for (unsigned i : order) {
      const Buffer &b = buffers[i];
      int chosen = chooseSlot(slots, buffers, b);
      if (chosen < 0) {
        chosen = static_cast<int>(slots.size());
        slots.push_back({});
      }
      Slot &s = slots[chosen];
      if (!s.occupants.empty())
        s.sameShape &= sameShape(buffers[s.occupants.front()], b);
      s.occupants.push_back(i);
      s.bytes = std::max(s.bytes, b.size.bytes);
      s.viewable &= b.viewable;
    }
    // The rewrite allocates each slot where its earliest occupant was.
    for (Slot &s : slots)
      llvm::sort(s.occupants);
    llvm::sort(slots, [](const Slot &a, const Slot &b) {
      return a.occupants.front() < b.occupants.front();
    });

    // The plan is recorded before the rewrite erases the allocs it names.
    fn->setAttr("tessel.memory_plan", describe(fn, numAllocs, buffers, slots, skipped));

    // 3. Rewrite.
    Value zero;
    for (const Slot &s : slots)
      if (s.occupants.size() > 1)
        rewriteSlot(s, buffers, entry, zero);
  }

  /// Fills in the size of `b` and traces its uses; returns why it cannot be
  /// planned ("" if it can).
  std::string analyse(Buffer &b, Block &entry, const DenseMap<Operation *, unsigned> &position) {
    MemRefType type = b.type;
    if (!type.getLayout().isIdentity() || !b.alloc.getSymbolOperands().empty())
      return "has a layout";
    std::optional<int64_t> elemBytes = elementBytes(type.getElementType());
    // Other element types (index, i1, vectors) could share slots of their
    // own type, but their byte sizes depend on the target: not planned.
    if (!elemBytes)
      return "element type without a byte size";
    b.size.bytes = *elemBytes;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      Extent e{type.getDimSize(d), {}};
      if (type.isDynamicDim(d)) {
        e = resolveValue(b.alloc.getDynamicSizes()[type.getDynamicDimIndex(d)], 0);
        b.dynamicDims.push_back(e);
      }
      if (e.constant)
        b.size.bytes *= *e.constant;
      else
        b.size.symbols.push_back(e.symbol);
    }
    llvm::sort(b.size.symbols, symbolLess);
    b.viewable = !type.getMemorySpace();
    return traceUses(b, entry, position);
  }

  /// The slot `b` should take, or -1 for a new one. A candidate is free
  /// for all of `b`'s range and has the same symbols (sizes are compared
  /// only where the comparison holds for every sequence length).
  /// Preference: a slot of the same shape (nothing to rewrite but the
  /// alloc); else, unless same-type-only, the smallest byte slot that holds
  /// `b`, else the largest one that does not (it grows, which costs less
  /// than a new slot; largest-first order makes that rare).
  int chooseSlot(ArrayRef<Slot> slots, ArrayRef<Buffer> buffers, const Buffer &b) {
    int same = -1, fits = -1, grows = -1;
    for (auto [i, s] : llvm::enumerate(slots)) {
      const Buffer &first = buffers[s.occupants.front()];
      if (!sameSymbols(first.size, b.size))
        continue;
      // Disjoint ranges, strictly: one occupant's last use must have run
      // before the other is allocated.
      if (llvm::any_of(s.occupants, [&](unsigned o) {
            return !(buffers[o].end < b.begin || b.end < buffers[o].begin);
          }))
        continue;
      int index = static_cast<int>(i);
      if (s.sameShape && sameShape(first, b)) {
        if (same < 0)
          same = index;
        continue;
      }
      if (sameTypeOnly || !s.viewable || !b.viewable)
        continue;
      if (s.bytes >= b.size.bytes) {
        if (fits < 0 || s.bytes < slots[fits].bytes)
          fits = index;
      } else if (grows < 0 || s.bytes > slots[grows].bytes) {
        grows = index;
      }
    }
    if (same >= 0)
      return same;
    return fits >= 0 ? fits : grows;
  }

  void rewriteSlot(const Slot &s, MutableArrayRef<Buffer> buffers, Block &entry, Value &zero) {
    Buffer &first = buffers[s.occupants.front()];
    std::optional<uint64_t> alignment;
    for (unsigned i : s.occupants)
      if (std::optional<uint64_t> a = buffers[i].alloc.getAlignment())
        alignment = std::max(alignment.value_or(0), *a);

    if (s.sameShape) {
      // The first occupant's alloc becomes the slot: it dominates the
      // others, and its size operands equal theirs (same shape).
      memref::AllocOp slot = first.alloc;
      slot.setAlignment(alignment);
      for (unsigned i : ArrayRef(s.occupants).drop_front()) {
        buffers[i].alloc.getResult().replaceAllUsesWith(slot.getResult());
        buffers[i].alloc.erase();
      }
      return;
    }

    // A byte slot, allocated where its first occupant was: bytes times the
    // first occupant's symbolic extents (its size operands that are not
    // constants; every occupant has the same symbols).
    OpBuilder b(first.alloc);
    Location loc = first.alloc.getLoc();
    MLIRContext *ctx = b.getContext();
    SmallVector<Value> symbolic;
    for (Value v : first.alloc.getDynamicSizes())
      if (!resolveValue(v, 0).constant)
        symbolic.push_back(v);
    MemRefType bytesType;
    SmallVector<Value> sizeOperands;
    if (symbolic.empty()) {
      bytesType = MemRefType::get({s.bytes}, IntegerType::get(ctx, 8));
    } else {
      bytesType = MemRefType::get({ShapedType::kDynamic}, IntegerType::get(ctx, 8));
      Value size = arith::ConstantIndexOp::create(b, loc, s.bytes);
      for (Value v : symbolic)
        size = arith::MulIOp::create(b, loc, size, v);
      sizeOperands.push_back(size);
    }
    IntegerAttr alignAttr = alignment ? b.getI64IntegerAttr(*alignment) : IntegerAttr();
    auto slot = memref::AllocOp::create(b, loc, bytesType, sizeOperands, alignAttr);
    if (!zero) {
      OpBuilder atStart = OpBuilder::atBlockBegin(&entry);
      zero = arith::ConstantIndexOp::create(atStart, fnLoc(entry), 0);
    }
    for (unsigned i : s.occupants) {
      memref::AllocOp alloc = buffers[i].alloc;
      b.setInsertionPoint(alloc);
      auto view = memref::ViewOp::create(b, alloc.getLoc(), alloc.getType(), slot, zero,
                                         alloc.getDynamicSizes());
      alloc.getResult().replaceAllUsesWith(view.getResult());
      alloc.erase();
    }
  }

  static Location fnLoc(Block &entry) { return entry.getParentOp()->getLoc(); }

  /// The `tessel.memory_plan` attribute (see Passes.td), and the report.
  DictionaryAttr describe(func::FuncOp fn, unsigned numAllocs, MutableArrayRef<Buffer> buffers,
                          ArrayRef<Slot> slots,
                          ArrayRef<std::pair<memref::AllocOp, std::string>> skipped) {
    Builder b(fn.getContext());
    SymbolNames names(fn.getBody().front());
    std::vector<LiveRange> ranges;
    Polynomial before, after;
    for (Buffer &buf : buffers) {
      std::vector<unsigned> m = monomial(buf, names);
      before[m] += buf.size.bytes;
      ranges.push_back({buf.begin, buf.end, m, buf.size.bytes});
    }
    SmallVector<Attribute> slotAttrs;
    for (const Slot &s : slots) {
      Buffer &first = buffers[s.occupants.front()];
      std::vector<unsigned> m = monomial(first, names);
      after[m] += s.bytes;
      SmallVector<Attribute> occupantNames;
      for (unsigned i : s.occupants)
        occupantNames.push_back(b.getStringAttr(locationName(buffers[i].alloc.getLoc())));
      Type type =
          s.sameShape
              ? Type(first.type)
              : MemRefType::get({first.size.symbols.empty() ? s.bytes : ShapedType::kDynamic},
                                b.getI8Type());
      slotAttrs.push_back(b.getDictionaryAttr({
          b.getNamedAttr("type", TypeAttr::get(type)),
          b.getNamedAttr("bytes", b.getStringAttr(format({{m, s.bytes}}, names))),
          b.getNamedAttr("buffers", b.getI64IntegerAttr(s.occupants.size())),
          b.getNamedAttr("names", b.getArrayAttr(occupantNames)),
      }));
    }
    Polynomial livePeak = peakLive(ranges);
    SmallVector<NamedAttribute> fields = {
        b.getNamedAttr("buffers", b.getI64IntegerAttr(numAllocs)),
        b.getNamedAttr("planned", b.getI64IntegerAttr(buffers.size())),
        b.getNamedAttr("reused", b.getI64IntegerAttr(buffers.size() - slots.size())),
        b.getNamedAttr("bytes_before", b.getStringAttr(format(before, names))),
        b.getNamedAttr("bytes_after", b.getStringAttr(format(after, names))),
        b.getNamedAttr("live_peak", b.getStringAttr(format(livePeak, names))),
        b.getNamedAttr("slots", b.getArrayAttr(slotAttrs)),
    };
    if (!names.opaque().empty()) {
      SmallVector<NamedAttribute> symbols;
      for (const auto &[name, what] : names.opaque())
        symbols.push_back(b.getNamedAttr(name, b.getStringAttr(what)));
      fields.push_back(b.getNamedAttr("symbols", b.getDictionaryAttr(symbols)));
    }

    if (report) {
      // One write, so that functions planned in parallel do not interleave.
      std::string text;
      llvm::raw_string_ostream os(text);
      os << "tessel-plan-memory @" << fn.getName() << ": " << numAllocs << " allocs, "
         << buffers.size() << " planned into " << slots.size() << " slots ("
         << buffers.size() - slots.size() << " reused)\n";
      os << "  bytes of planned buffers: " << format(before, names) << " -> "
         << format(after, names)
         << " (live at once, a bound for any plan: " << format(livePeak, names) << ")\n";
      for (auto [i, s] : llvm::enumerate(slots)) {
        auto d = cast<DictionaryAttr>(slotAttrs[i]);
        os << "  slot " << i << ": " << d.get("type") << ", "
           << cast<StringAttr>(d.get("bytes")).getValue() << " bytes, " << s.occupants.size()
           << " buffers:";
        for (Attribute n : cast<ArrayAttr>(d.get("names")))
          os << " " << cast<StringAttr>(n).getValue();
        os << "\n";
      }
      for (auto [alloc, why] : skipped)
        os << "  not planned: " << alloc.getType() << " at " << locationName(alloc.getLoc()) << ": "
           << why << "\n";
      for (const auto &[name, what] : names.opaque())
        os << "  " << name << ": " << what << "\n";
      llvm::errs() << text;
    }
    return b.getDictionaryAttr(fields);
  }
};

} // namespace
} // namespace tessel
