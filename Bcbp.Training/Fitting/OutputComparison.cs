using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// The one comparison of two models' outputs on the same inputs (sparse vs masked dense, shrunk vs masked, bench):
/// fed batch by batch with the reference logits A, the other model's logits B and optional labels, it keeps top-1 and
/// mean cross-entropy of each, the fraction of samples with the same predicted class, the relative L2 error of B's
/// logits (overall, and the worst sample), the largest |A - B| and the largest |A|. Logits are compared in float32.
/// </summary>
public sealed class OutputComparison
{
    long _agree, _correctA, _correctB;
    double _lossSumA, _lossSumB, _errSq, _refSq;
    bool _labelled = true;

    /// <summary>Samples compared so far.</summary>
    public long Samples { get; private set; }
    /// <summary>Largest per-sample ||B - A|| / ||A||.</summary>
    public double MaxSampleRelErr { get; private set; }
    /// <summary>Largest |B - A| over all logits.</summary>
    public double MaxAbsDiff { get; private set; }
    /// <summary>Largest |A| over all logits (the scale an absolute tolerance is relative to).</summary>
    public double MaxAbsLogit { get; private set; }

    /// <summary>Fraction of samples whose predicted classes agree.</summary>
    public double Agreement => Samples == 0 ? 0 : (double)_agree / Samples;
    public long Disagreements => Samples - _agree;
    /// <summary>||B - A|| / ||A|| over all samples.</summary>
    public double RelErr => Math.Sqrt(_errSq / Math.Max(_refSq, 1e-300));
    /// <summary>Top-1 accuracy in percent of A and B; null unless every batch had labels.</summary>
    public double? Top1A => _labelled && Samples > 0 ? 100.0 * _correctA / Samples : null;
    public double? Top1B => _labelled && Samples > 0 ? 100.0 * _correctB / Samples : null;
    /// <summary>Mean cross-entropy of A and B; null unless every batch had labels.</summary>
    public double? LossA => _labelled && Samples > 0 ? _lossSumA / Samples : null;
    public double? LossB => _labelled && Samples > 0 ? _lossSumB / Samples : null;

    /// <summary>Per-sample ||B - A|| / ||A|| of logits [N, C] (float32, [N]).</summary>
    public static Tensor SampleRelErr(Tensor logitsA, Tensor logitsB)
    {
        var a = logitsA.to(ScalarType.Float32);
        var d = logitsB.to(ScalarType.Float32) - a;
        return (d.square().sum(1) / a.square().sum(1).clamp_min(1e-24)).sqrt();
    }

    /// <summary>Adds one batch: logits [N, C] of both models and labels [N] (or null).</summary>
    public void Add(Tensor logitsA, Tensor logitsB, Tensor? target)
    {
        using var scope = NewDisposeScope();
        var a = logitsA.to(ScalarType.Float32);
        var b = logitsB.to(ScalarType.Float32);
        var diff = b - a;
        var rowErr = diff.square().sum(1);
        var rowRef = a.square().sum(1);
        _errSq += rowErr.sum().item<float>();
        _refSq += rowRef.sum().item<float>();
        MaxSampleRelErr = Math.Max(MaxSampleRelErr, (rowErr / rowRef.clamp_min(1e-24)).sqrt().max().item<float>());
        MaxAbsDiff = Math.Max(MaxAbsDiff, diff.abs().max().item<float>());
        MaxAbsLogit = Math.Max(MaxAbsLogit, a.abs().max().item<float>());
        var pa = a.argmax(1); var pb = b.argmax(1);
        _agree += pa.eq(pb).sum().item<long>();
        Samples += a.shape[0];
        if (target is null) { _labelled = false; return; }
        var t = target.to(a.device);
        _correctA += pa.eq(t).sum().item<long>();
        _correctB += pb.eq(t).sum().item<long>();
        _lossSumA += nn.functional.cross_entropy(a, t, reduction: nn.Reduction.Sum).item<float>();
        _lossSumB += nn.functional.cross_entropy(b, t, reduction: nn.Reduction.Sum).item<float>();
    }
}
