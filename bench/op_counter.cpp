#include "bench/op_counter.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/record_function.h>
#include <torch/torch.h>

#include "sparseloop/util/compat.h"
#include "sparseloop/util/timing.h"

namespace sparseloop {
namespace {

thread_local OpCounts* counting = nullptr;
thread_local int depth = 0;
/// (operator, shapes) -> totals of the run being counted.
thread_local std::map<std::pair<std::string, std::string>, ProductTime>* timing = nullptr;
/// A product being timed on this thread: one that runs inside it (a
/// convolution falling back to matrix products) is part of its time.
thread_local bool timing_product = false;

struct Context : public at::ObserverContext {
  bool outermost = false;
  double in_bytes = 0;
  std::vector<const c10::TensorImpl*> inputs;
  // A FLOP-counted call: its key, FLOPs and start.
  ProductTime* product = nullptr;
  double flop = 0;
  double start_ms = 0;
  bool cuda = false;
};

/// The tensor operands' sizes ("bf16" after a bfloat16 one); for a
/// convolution backward also which gradients it computes ("input+weight"),
/// whose costs differ per primitive.
std::string shapes_of(const std::string& name, c10::ArrayRef<const c10::IValue> in) {
  std::ostringstream s;
  for (const auto& v : in) {
    if (!v.isTensor() || !v.toTensor().defined()) continue;
    if (s.tellp() > 0) s << ' ';
    s << v.toTensor().sizes();
    if (v.toTensor().scalar_type() == at::kBFloat16) s << "bf16";
  }
  if (name == "aten::convolution_backward" && in.size() > 10 && in[10].isBoolList()) {
    auto m = in[10].toBoolList();
    const bool input = m.size() > 0 && m.get(0), weight = m.size() > 1 && m.get(1);
    s << (input && weight ? " input+weight" : input ? " input" : weight ? " weight" : "");
  }
  return s.str();
}

double tensor_bytes(const at::Tensor& t) {
  return t.defined() ? static_cast<double>(t.numel()) * static_cast<double>(t.element_size()) : 0.0;
}

/// 2 × multiply-adds of a convolution whose non-transposed output (or
/// transposed input) is `image`: every element takes Cin/groups·k² products.
double conv_flop(const at::Tensor& image, const at::Tensor& weight) {
  if (!image.defined() || !weight.defined() || weight.dim() < 3) return 0.0;
  return 2.0 * static_cast<double>(image.numel()) *
         static_cast<double>(weight.numel() / weight.size(0));
}

double flop_of(const at::RecordFunction& fn, const std::string& name,
               c10::ArrayRef<const c10::IValue> in) {
  auto tensor = [&](size_t i) { return i < in.size() && in[i].isTensor() ? in[i].toTensor() : at::Tensor(); };
  if (name == "aten::mm" || name == "aten::bmm") {
    auto a = tensor(0), b = tensor(1);
    if (!a.defined() || !b.defined()) return 0.0;
    return 2.0 * static_cast<double>(a.numel()) * static_cast<double>(b.size(-1));
  }
  if (name == "aten::addmm" || name == "aten::addmm_") {  // addmm_: util/blas_product.h
    auto a = tensor(1), b = tensor(2);
    if (!a.defined() || !b.defined()) return 0.0;
    return 2.0 * static_cast<double>(a.numel()) * static_cast<double>(b.size(-1));
  }
  if (name == "aten::convolution") {
    // (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    auto x = tensor(0), w = tensor(1);
    const bool transposed = in.size() > 6 && in[6].isBool() && in[6].toBool();
    if (transposed) return conv_flop(x, w);
    // Output elements: N · Cout · ∏ ⌊(n + 2p − d(k − 1) − 1)/s⌋ + 1.
    if (!x.defined() || !w.defined()) return 0.0;
    // A one-element list (conv2d(x, w, {}, 1, 1)) stands for every spatial dim.
    auto at = [](const std::vector<int64_t>& v, size_t i, int64_t fallback) {
      return v.empty() ? fallback : v[std::min(i, v.size() - 1)];
    };
    auto stride = in[3].toIntVector(), padding = in[4].toIntVector(), dil = in[5].toIntVector();
    double out = static_cast<double>(x.size(0) * w.size(0));
    for (int64_t d = 2; d < x.dim(); ++d) {
      const size_t i = static_cast<size_t>(d - 2);
      const int64_t s = std::max<int64_t>(1, at(stride, i, 1));
      out *= static_cast<double>(
          (x.size(d) + 2 * at(padding, i, 0) - at(dil, i, 1) * (w.size(d) - 1) - 1) / s + 1);
    }
    return 2.0 * out * static_cast<double>(w.numel() / w.size(0));
  }
  // The library's own transposed convolutions of few-channel dictionaries
  // (util/phase_transposed_conv.h, util/channels_last_transposed_conv.h):
  // (codes, weight).
  if (name == "sparseloop::transposed_conv") return conv_flop(tensor(0), tensor(1));
  // The library's weight gradient from patches (util/patch_weight_gradient.h):
  // (grad_output, input, weight), one forward convolution's products.
  if (name == "sparseloop::conv_weight_gradient") return conv_flop(tensor(0), tensor(2));
  if (name == "aten::convolution_backward") {
    // (grad_output, input, weight, bias_sizes, stride, padding, dilation,
    //  transposed, output_padding, groups, output_mask): each of the input and
    //  weight gradients costs one forward convolution.
    auto go = tensor(0), x = tensor(1), w = tensor(2);
    const bool transposed = in.size() > 7 && in[7].isBool() && in[7].toBool();
    std::vector<bool> mask{true, true, false};
    if (in.size() > 10 && in[10].isBoolList()) {
      auto m = in[10].toBoolList();
      for (size_t i = 0; i < 3 && i < m.size(); ++i) mask[i] = m.get(i);
    }
    const double one = conv_flop(transposed ? x : go, w);
    return one * ((mask[0] ? 1.0 : 0.0) + (mask[1] ? 1.0 : 0.0));
  }
  (void)fn;
  return 0.0;
}

bool no_traffic(const std::string& name) {
  return name == "aten::empty" || name == "aten::empty_like" || name == "aten::empty_strided" ||
         name == "aten::resize_" || name == "aten::detach" || name == "aten::set_";
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  auto ctx = std::make_unique<Context>();
  ctx->outermost = depth == 0;
  ++depth;
  if (!counting) return ctx;
  const std::string name = fn.name();
  auto in = fn.inputs();
  const double flop = flop_of(fn, name, in);
  counting->flop += flop;
  if (flop > 0 && timing && !timing_product) {
    timing_product = true;
    const std::string shapes = shapes_of(name, in);
    auto& p = (*timing)[{name, shapes}];
    if (p.op.empty()) {
      p.op = name;
      p.shapes = shapes;
      p.bf16 = shapes.find("bf16") != std::string::npos;
    }
    ctx->product = &p;
    ctx->flop = flop;
    for (const auto& v : in)
      if (v.isTensor() && v.toTensor().defined() && v.toTensor().is_cuda()) ctx->cuda = true;
    // The GPU runs asynchronously: time the product, not its launch.
    if (ctx->cuda) cuda_synchronize();
    ctx->start_ms = now_ms();
  }
  if (ctx->outermost && !no_traffic(name)) {
    for (const auto& v : in) {
      if (v.isTensor()) {
        ctx->in_bytes += tensor_bytes(v.toTensor());
        ctx->inputs.push_back(v.toTensor().unsafeGetTensorImpl());
      } else if (v.isTensorList()) {
        for (const at::Tensor& t : v.toTensorList()) ctx->in_bytes += tensor_bytes(t);
      }
    }
  } else {
    ctx->outermost = false;
  }
  return ctx;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* c) {
  --depth;
  auto* ctx = static_cast<Context*>(c);
  if (ctx && ctx->product) {
    if (ctx->cuda) cuda_synchronize();
    ctx->product->ms += now_ms() - ctx->start_ms;
    timing_product = false;
    ctx->product->flop += ctx->flop;
    ++ctx->product->calls;
  }
  if (!counting || !ctx || !ctx->outermost) return;
  double out_bytes = 0;
  bool view = false;
  for (const auto& v : fn.outputs()) {
    if (!v.isTensor()) continue;
    const auto& t = v.toTensor();
    // A view moves nothing: an output that is a view and not one of the
    // inputs (an in-place result is its input's TensorImpl).
    if (t.defined() && t.is_view() &&
        std::find(ctx->inputs.begin(), ctx->inputs.end(), t.unsafeGetTensorImpl()) == ctx->inputs.end())
      view = true;
    out_bytes += tensor_bytes(t);
  }
  ++counting->ops;
  if (!view) counting->bytes += ctx->in_bytes + out_bytes;
}

}  // namespace

OpCounts count_ops(const std::function<void()>& fn) {
  OpCounts counts;
  OpCounts* previous = counting;
  auto* previous_timing = timing;
  std::map<std::pair<std::string, std::string>, ProductTime> products;
  counting = &counts;
  timing = &products;
  auto handle = at::addThreadLocalCallback(at::RecordFunctionCallback(&on_start, &on_end)
                                               .needsInputs(true)
                                               .needsOutputs(true)
                                               .scopes({at::RecordScope::FUNCTION}));
  try {
    fn();
  } catch (...) {
    at::removeCallback(handle);
    counting = previous;
    timing = previous_timing;
    timing_product = false;
    throw;
  }
  at::removeCallback(handle);
  counting = previous;
  timing = previous_timing;
  for (auto& [key, p] : products) counts.products.push_back(std::move(p));
  std::sort(counts.products.begin(), counts.products.end(),
            [](const ProductTime& a, const ProductTime& b) { return a.ms > b.ms; });
  return counts;
}

nlohmann::json products_json(const std::vector<ProductTime>& products, double fp32_gflops,
                             double bf16_gflops, size_t top) {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < products.size() && i < top; ++i) {
    const ProductTime& p = products[i];
    const double rate = p.ms > 0 ? p.flop / (p.ms * 1e6) : 0.0;  // GFLOP/s
    const double peak = p.bf16 && bf16_gflops > 0 ? bf16_gflops : fp32_gflops;
    rows.push_back({{"op", p.op},
                    {"shapes", p.shapes},
                    {"calls", p.calls},
                    {"ms", p.ms},
                    {"gflop", p.flop / 1e9},
                    {"gflops", rate},
                    {"fraction_of_peak", peak > 0 ? rate / peak : 0.0}});
  }
  return rows;
}

}  // namespace sparseloop
