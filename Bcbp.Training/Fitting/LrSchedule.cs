namespace Bcbp.Training.Fitting;

/// <summary>
/// Learning rate as a pure function of the optimizer step: linear warmup, then <c>cosine</c> (to 0 at the last
/// step, as torch's CosineAnnealingLR with eta_min 0), <c>step</c> (times <c>gamma</c> at each milestone, as MultiStepLR)
/// or <c>constant</c>. The step is the only state, so a checkpoint that stores it resumes the schedule exactly.
/// </summary>
public sealed class LrSchedule
{
    readonly string _kind;
    readonly double _baseLr;
    readonly long _totalSteps;
    readonly long _warmupSteps;
    readonly long[] _milestoneSteps;
    readonly double _gamma;

    /// <param name="kind">cosine, step or constant (config key train.lr_schedule).</param>
    /// <param name="baseLr">Peak learning rate (train.lr).</param>
    /// <param name="totalSteps">Optimizer steps of the phase.</param>
    /// <param name="warmupSteps">Steps of linear warm-up from 0.</param>
    /// <param name="milestoneSteps">Steps at which <c>step</c> decays; ignored by the other kinds.</param>
    /// <param name="gamma">Factor of each <c>step</c> decay.</param>
    public LrSchedule(string kind, double baseLr, long totalSteps, long warmupSteps, IEnumerable<long> milestoneSteps, double gamma)
    {
        if (kind is not ("cosine" or "step" or "constant"))
            throw new ArgumentException($"train.lr_schedule: '{kind}' is not known; use cosine, step or constant.");
        if (warmupSteps < 0 || warmupSteps > totalSteps)
            throw new ArgumentException($"train.warmup_epochs: warmup ({warmupSteps} steps) must lie within training ({totalSteps} steps).");
        _kind = kind;
        _baseLr = baseLr;
        _totalSteps = totalSteps;
        _warmupSteps = warmupSteps;
        _milestoneSteps = milestoneSteps.OrderBy(s => s).ToArray();
        _gamma = gamma;
    }

    /// <summary>Builds the schedule of a phase from the <c>train</c> section, converting epochs to steps;
    /// <paramref name="lrScale"/> multiplies <c>train.lr</c> (the linear scaling rule of a data-parallel job).</summary>
    public static LrSchedule FromConfig(Config.TrainConfig config, int epochs, int stepsPerEpoch, double lrScale = 1.0)
    {
        var milestones = config.Milestones.Count > 0
            ? config.Milestones
            : new List<int> { (int)Math.Round(epochs * 0.5), (int)Math.Round(epochs * 0.75) };
        return new LrSchedule(config.LrSchedule, config.Lr * lrScale, (long)epochs * stepsPerEpoch,
            (long)config.WarmupEpochs * stepsPerEpoch, milestones.Select(m => (long)m * stepsPerEpoch), config.Gamma);
    }

    /// <summary>Learning rate for optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(long step)
    {
        // Warmup ramps to the base rate over warmupSteps steps: step 0 already trains (lr > 0).
        if (step < _warmupSteps) return _baseLr * (step + 1) / _warmupSteps;
        return _kind switch
        {
            "cosine" => _totalSteps <= _warmupSteps
                ? _baseLr
                : _baseLr * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, (double)(step - _warmupSteps) / (_totalSteps - _warmupSteps)))),
            "step" => _baseLr * Math.Pow(_gamma, _milestoneSteps.Count(m => m <= step)),
            _ => _baseLr,
        };
    }
}
