// A training run's position, saved and restored: the trainer's state in a checkpoint (the step,
// the phases begun with their signatures, the optimizer's step counts, the schedule's and the
// loss scaler's state), and the checks that a resumed run continues the same curve.
#include <map>
#include <sstream>
#include <stdexcept>

#include "nn/checkpoint.h"
#include "nn/distributed.h"
#include "nn/train.h"

namespace flopslab::nn {
namespace {

// Everything about a phase that shapes the curve, except its length.
std::string phase_signature(const Phase& p) {
  std::ostringstream s;
  s.precision(17);
  s << p.optimizer << '|' << p.lr_start << '|' << p.lr_end << '|' << anneal_name(p.lr_decay) << '|' << p.lr_power << '|'
    << (p.schedule ? p.schedule->dump() : "-") << '|' << p.schedule_per_epoch << '|'
    << (p.momentum_start ? std::to_string(*p.momentum_start) + ".." + std::to_string(*p.momentum_end) : "-") << '|'
    << anneal_name(p.momentum_decay) << '|' << p.weight_decay << '|';
  if (p.augment)
    s << p.augment->flip << ',' << p.augment->crop_padding << ',' << p.augment->jitter_low << ','
      << p.augment->jitter_high << ',' << p.augment->mixup_alpha;
  s << '|';
  if (p.lr_mult)
    for (const auto& [part, m] : *p.lr_mult) s << part << '=' << m << ',';
  s << '|';
  if (p.freeze)
    for (const std::string& part : *p.freeze) s << part << ',';
  return s.str();
}

bool constant_rate(const Phase& p) {
  return p.lr_decay == Anneal::none && !p.schedule && (!p.momentum_start || *p.momentum_start == *p.momentum_end);
}

}  // namespace

ScheduleJson Trainer::state() const {
  ScheduleJson phases = ScheduleJson::array();
  for (std::size_t k = 0; k < spans_.size() && spans_[k].begin < step_; ++k)
    phases.push_back({{"signature", phase_signature(recipe_.phases[k])},
                      {"begin", spans_[k].begin},
                      {"steps", spans_[k].steps}});
  return {{"recipe", recipe_.source},
          {"step", step_},
          {"batch", o_.batch},
          {"accumulate", o_.accumulate},
          {"steps_per_epoch", steps_per_epoch_},
          {"world", o_.comm != nullptr ? o_.comm->world() : 1},
          {"phase", phase_},
          {"phases", phases},
          {"parameter_steps", optimizer_ ? ScheduleJson(optimizer_->parameter_steps()) : ScheduleJson::object()},
          {"scheduler", scheduler_ ? scheduler_->state() : ScheduleJson(nullptr)},
          {"scaler", scaler_ ? scaler_->state() : ScheduleJson(nullptr)}};
}

std::string Trainer::checkpoint(const std::string& model_name) const {
  if (!optimizer_) throw std::logic_error("checkpoint before the first step");
  return serialize_checkpoint(model_, *optimizer_, {model_name, completed_epochs(), state().dump()});
}

void Trainer::restore(const std::string& bytes, const std::string& what, const std::string& model_name) {
  const CheckpointInfo info = read_checkpoint_info(bytes, what);
  ScheduleJson s;
  try {
    s = ScheduleJson::parse(info.state);
  } catch (const ScheduleJson::parse_error&) {
    throw std::runtime_error(what + ": its training state is not valid JSON (the file is damaged)");
  }
  auto mismatch = [&](const std::string& field, const std::string& message) {
    throw std::invalid_argument("--resume: " + what + ": " + field + ": " + message);
  };
  for (const char* key : {"step", "batch", "accumulate", "steps_per_epoch", "phase", "phases"})
    if (!s.contains(key)) throw std::runtime_error(what + ": its training state has no '" + std::string(key) + "'");
  if (s["batch"].get<std::int64_t>() != o_.batch)
    mismatch("--batch", "the checkpoint was trained with batch " + s["batch"].dump() + ", this run asks for " +
                            std::to_string(o_.batch));
  if (s["accumulate"].get<int>() != o_.accumulate)
    mismatch("--accumulate", "the checkpoint accumulated " + s["accumulate"].dump() + " batches per step, this run " +
                                 std::to_string(o_.accumulate));
  // Written by N ranks, resumed on M: the completed epochs carry over (a step is another
  // number of samples there), for a recipe whose rate does not depend on the step.
  const int saved_world = s.value("world", 1), world = o_.comm != nullptr ? o_.comm->world() : 1;
  const bool rescaled = saved_world != world;
  std::int64_t step = s["step"].get<std::int64_t>();
  if (rescaled) {
    if (recipe_.phases.size() != 1 || recipe_.phases[0].schedule || !constant_rate(recipe_.phases[0]))
      mismatch("--distributed", "the checkpoint was written by " + std::to_string(saved_world) + " rank(s) and this run has " +
                                    std::to_string(world) + "; only a one-phase constant-rate recipe resumes on another number of ranks");
    step = step / std::max<std::int64_t>(s["steps_per_epoch"].get<std::int64_t>(), 1) * steps_per_epoch_;
  } else if (s["steps_per_epoch"].get<std::int64_t>() != steps_per_epoch_)
    mismatch("--train-limit", "the checkpoint had " + s["steps_per_epoch"].dump() + " steps per epoch, this run has " +
                                  std::to_string(steps_per_epoch_) + " (another training set?)");
  // The curve up to the checkpoint must be the one the checkpoint followed: every phase that
  // began before it the same.
  for (std::size_t k = 0; k < s["phases"].size(); ++k) {
    const ScheduleJson& saved = s["phases"][k];
    const std::string label = k < recipe_.phases.size() ? recipe_.phases[k].label(k) : "phase " + std::to_string(k + 1);
    if (k >= recipe_.phases.size() || saved["signature"] != phase_signature(recipe_.phases[k]) ||
        (!rescaled && saved["begin"].get<std::int64_t>() != spans_[k].begin))
      mismatch("recipe", label + " differs from the recipe " + s.value("recipe", std::string("?")) +
                             " the checkpoint followed; resume with that recipe, or start a new --out");
    // Only the phase the checkpoint stopped in (or at the end of) may change length, and only
    // if its rate is constant: then the steps already taken saw the same rates.
    const bool last = k + 1 == s["phases"].size();
    if (!rescaled && saved["steps"].get<std::int64_t>() != spans_[k].steps && (!last || !constant_rate(recipe_.phases[k])))
      mismatch("recipe", label + " has " + std::to_string(spans_[k].steps) + " steps here and had " +
                             saved["steps"].dump() + " when the checkpoint was written: its curve would change");
  }
  if (step >= total_steps_)
    mismatch("--epochs", "the checkpoint has finished all " + std::to_string(epochs()) +
                             " epochs of its recipe; ask for more epochs (or a longer recipe)");
  step_ = step;
  enter_phase(phase_at(step_));
  if (s["phase"].get<std::size_t>() != phase_)
    mismatch("recipe", "the checkpoint stopped in phase " + std::to_string(s["phase"].get<std::size_t>() + 1) +
                           ", this recipe would be in phase " + std::to_string(phase_ + 1));
  restore_checkpoint(bytes, what, model_name, model_, *optimizer_);
  if (s.contains("parameter_steps") && s["parameter_steps"].is_object())
    optimizer_->set_parameter_steps(s["parameter_steps"].get<std::map<std::string, long>>());
  if (scheduler_) {
    if (!s.contains("scheduler") || s["scheduler"].is_null()) mismatch("recipe", "the checkpoint has no schedule state");
    scheduler_->load_state(s["scheduler"]);
  }
  if (scaler_ && s.contains("scaler") && !s["scaler"].is_null()) scaler_->load_state(s["scaler"]);
}

}  // namespace flopslab::nn
