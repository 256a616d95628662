using Bcbp.Training.Config;

namespace Bcbp.Training.Pruning.Schedule;

/// <summary>
/// Target sparsity as a function of the optimizer step. With t0 = start_epoch * steps_per_epoch and
/// t1 = end_epoch * steps_per_epoch: before t0 nothing is pruned; cubic (Zhu and Gupta 2017) gives
/// s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (t1 - t0))^3 on [t0, t1], linear interpolates, and from t1 on the
/// target is s_f. one_shot jumps to s_f at t0. Masks are updated at t0, every <c>frequency</c> steps after it, and
/// at t1 (so the final sparsity is reached at t1 even when frequency does not divide t1 - t0).
/// </summary>
public sealed class SparsitySchedule
{
    readonly ScheduleKind _kind;
    readonly double _initial, _final;
    readonly int _frequency;

    public SparsitySchedule(ScheduleConfig config, double finalSparsity, int stepsPerEpoch)
    {
        if (stepsPerEpoch < 1) throw new ArgumentException($"steps per epoch must be >= 1 (got {stepsPerEpoch}).");
        _kind = config.ScheduleKind;
        _initial = config.Initial;
        _final = finalSparsity;
        _frequency = config.Frequency;
        StartStep = (long)config.StartEpoch * stepsPerEpoch;
        EndStep = _kind == ScheduleKind.OneShot ? StartStep : (long)config.EndEpoch * stepsPerEpoch;
    }

    public long StartStep { get; }
    public long EndStep { get; }

    /// <summary>Fraction of the final sparsity reached at <paramref name="step"/> is <c>SparsityAt(step) / final</c>.</summary>
    public double SparsityAt(long step)
    {
        if (step < StartStep) return 0.0;
        if (step >= EndStep) return _final;
        double progress = (double)(step - StartStep) / (EndStep - StartStep);
        return _kind switch
        {
            ScheduleKind.Linear => _initial + (_final - _initial) * progress,
            _ => _final + (_initial - _final) * Math.Pow(1 - progress, 3),
        };
    }

    /// <summary>True at the steps where masks are recomputed.</summary>
    public bool IsUpdateStep(long step) =>
        step >= StartStep && (step >= EndStep || (step - StartStep) % _frequency == 0);
}
