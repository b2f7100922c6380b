// layer_trainer.cpp: the epoch loop, AdamW, validation and best-epoch bookkeeping for one layer.
#include "pipeline/train/layer_trainer.h"

#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "pipeline/train/weighted_bce.h"

namespace dv {

namespace {

// One predictor under training: weights with gradients, AdamW moments, early-stopping state.
struct Learner {
  std::string kind;  // "mlp" or "att"
  double lr = 0, negative_offset = 0;
  at::Tensor w1, w2;          // on the training device, requires_grad
  at::Tensor m1, v1, m2, v2;  // AdamW first and second moments
  int64_t step = 0;
  LowRankPredictor best;      // CPU copy of the best weights so far
  double best_recall = 0;
  int64_t best_epoch = 0, epochs_run = 0, no_improve = 0;
  bool active = true;
};

Learner make_learner(const char* kind, const LowRankPredictor& init, double lr, double offset, at::Device device) {
  Learner l;
  l.kind = kind;
  l.lr = lr;
  l.negative_offset = offset;
  l.w1 = init.w1().to(device).clone().requires_grad_(true);
  l.w2 = init.w2().to(device).clone().requires_grad_(true);
  l.m1 = at::zeros_like(l.w1).detach();
  l.v1 = at::zeros_like(l.w1).detach();
  l.m2 = at::zeros_like(l.w2).detach();
  l.v2 = at::zeros_like(l.w2).detach();
  l.best = init.clone();
  return l;
}

at::Tensor forward(const Learner& l, const at::Tensor& x) { return at::matmul(at::matmul(x, l.w1.t()), l.w2.t()); }

// torch.optim.AdamW (betas 0.9/0.999, eps 1e-8, decoupled weight decay), the reference's optimiser.
void adamw_update(at::Tensor& p, at::Tensor& m, at::Tensor& v, const at::Tensor& g, double lr, double wd,
                  int64_t step) {
  constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  p.mul_(1.0 - lr * wd);
  m.mul_(b1).add_(g, 1.0 - b1);
  v.mul_(b2).addcmul_(g, g, 1.0 - b2);
  const double bc1 = 1.0 - std::pow(b1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(b2, static_cast<double>(step));
  const at::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(eps);
  p.addcdiv_(m, denom, -lr / bc1);
}

void train_step(Learner& l, const at::Tensor& x, const at::Tensor& labels, double weight_decay) {
  const at::Tensor loss = weighted_bce_loss(forward(l, x), labels, l.negative_offset);
  l.w1.mutable_grad() = at::Tensor();
  l.w2.mutable_grad() = at::Tensor();
  loss.backward();
  at::NoGradGuard no_grad;
  ++l.step;
  adamw_update(l.w1, l.m1, l.v1, l.w1.grad(), l.lr, weight_decay, l.step);
  adamw_update(l.w2, l.m2, l.v2, l.w2.grad(), l.lr, weight_decay, l.step);
}

LowRankPredictor snapshot(const Learner& l) {
  return LowRankPredictor(l.w1.detach().to(at::kCPU).clone(), l.w2.detach().to(at::kCPU).clone());
}

// Inputs and labels of a block on the training device.
struct DeviceBatch {
  at::Tensor x_mlp, x_att, y_mlp, y_att, head_norm, fc1_value;
};

DeviceBatch to_device(const RowBlock& b, const StoreShape& s, int64_t att_k, at::Device device) {
  DeviceBatch d;
  d.x_mlp = b.x_mlp.to(device).to(at::kFloat);
  d.x_att = b.x_att.is_same(b.x_mlp) ? d.x_mlp : b.x_att.to(device).to(at::kFloat);
  d.y_mlp = unpack_active_labels(b.fc1_bits.to(device), s.ffn_dim);
  d.head_norm = b.head_norm.to(device);
  d.y_att = top_head_labels(d.head_norm, att_k);
  if (b.fc1_value.defined()) d.fc1_value = b.fc1_value.to(device);
  return d;
}

}  // namespace

uint64_t layer_seed(uint64_t seed, int64_t layer, int stream) {
  // splitmix64 over (seed, layer, stream): well-spread, cheap, and stable across platforms.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(layer) * 4 + static_cast<uint64_t>(stream) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

LayerOutcome train_layer(SharedStore& store, const LayerJob& job, const TrainOptions& o, at::Device device,
                         const std::function<bool()>& stop) {
  const auto t0 = std::chrono::steady_clock::now();
  const StoreShape& s = store.reader.shape();
  const int64_t layer = job.fields.layer;
  const int64_t att_k = att_label_count(o.att_top_fraction, s.num_heads);
  const int64_t budget = o.buffer_mb << 20;
  // A quarter of the budget may keep the validation rows resident; the rest buffers training rows.
  ValBatches val(store, job.fields, job.train_rows, job.train_rows + job.val_rows, std::max<int64_t>(o.batch_size, 4096),
                 budget / 4);
  TrainBatches train(store, job.fields, job.train_rows, o.batch_size, budget - budget / 4, layer_seed(o.seed, layer, 2),
                     device);

  std::vector<Learner> learners;
  learners.push_back(make_learner("mlp", LowRankPredictor::init(s.hidden_size, o.rank_mlp, s.ffn_dim,
                                                                layer_seed(o.seed, layer, 0)),
                                  o.lr_mlp, o.mlp_negative_offset, device));
  learners.push_back(make_learner("att", LowRankPredictor::init(s.hidden_size, o.rank_att, s.num_heads,
                                                                layer_seed(o.seed, layer, 1)),
                                  o.lr_att, o.att_negative_offset, device));

  // Validation pass over the learners in `which`; full adds top-k and mass metrics (and reads fc1_value).
  auto evaluate = [&](const std::vector<Learner*>& which, bool full) {
    std::vector<MetricsAccumulator> acc;
    const std::vector<double> none;
    for (Learner* l : which) {
      acc.emplace_back(l->kind == "mlp" ? s.ffn_dim : s.num_heads, full ? o.topk_fractions : none);
    }
    at::NoGradGuard no_grad;
    val.for_each(full, [&](const RowBlock& block) {
      const DeviceBatch d = to_device(block, s, att_k, device);
      for (size_t i = 0; i < which.size(); ++i) {
        const bool mlp = which[i]->kind == "mlp";
        const at::Tensor& y = mlp ? d.y_mlp : d.y_att;
        const at::Tensor logits = forward(*which[i], mlp ? d.x_mlp : d.x_att);
        acc[i].add(logits, y, mlp ? d.fc1_value : d.head_norm, weighted_bce_loss(logits, y, which[i]->negative_offset));
      }
    });
    return acc;
  };

  std::vector<Learner*> all = {&learners[0], &learners[1]};
  std::vector<MetricsAccumulator> initial = evaluate(all, false);
  for (size_t i = 0; i < learners.size(); ++i) learners[i].best_recall = initial[i].recall();

  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    std::vector<Learner*> active;
    for (Learner& l : learners) {
      if (l.active) active.push_back(&l);
    }
    if (active.empty()) break;
    train.start_epoch();
    RowBlock batch;
    while (train.next(&batch)) {
      if (stop && stop()) return {};
      const DeviceBatch d = to_device(batch, s, att_k, device);
      for (Learner* l : active) {
        const bool mlp = l->kind == "mlp";
        train_step(*l, mlp ? d.x_mlp : d.x_att, mlp ? d.y_mlp : d.y_att, o.weight_decay);
      }
    }
    const std::vector<MetricsAccumulator> acc = evaluate(active, false);
    for (size_t i = 0; i < active.size(); ++i) {
      Learner& l = *active[i];
      l.epochs_run = epoch;
      if (acc[i].recall() > l.best_recall) {
        l.best_recall = acc[i].recall();
        l.best = snapshot(l);
        l.best_epoch = epoch;
        l.no_improve = 0;
      } else {
        ++l.no_improve;
      }
      if (l.no_improve >= o.patience || l.best_recall > o.stop_recall) l.active = false;
    }
  }

  // Final metrics with the kept weights.
  for (Learner& l : learners) {
    at::NoGradGuard no_grad;
    l.w1 = l.best.w1().to(device);
    l.w2 = l.best.w2().to(device);
  }
  const std::vector<MetricsAccumulator> final_acc = evaluate(all, true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  LayerOutcome out;
  out.finished = true;
  out.mlp = learners[0].best;
  out.att = learners[1].best;
  out.metrics.layer = layer;
  for (size_t i = 0; i < learners.size(); ++i) {
    const Learner& l = learners[i];
    PredictorMetrics& m = i == 0 ? out.metrics.mlp : out.metrics.att;
    m.kind = l.kind;
    m.layer = layer;
    m.input = predictor_input_name(i == 0 ? o.mlp_input : o.att_input);
    m.rank = l.best.rank();
    m.n_out = l.best.out_dim();
    m.train_rows = job.train_rows;
    m.val_rows = job.val_rows;
    m.epochs_run = l.epochs_run;
    m.best_epoch = l.best_epoch;
    m.initial_recall = initial[i].recall();
    m.seconds = seconds;
    final_acc[i].fill(&m);
  }
  return out;
}

}  // namespace dv
