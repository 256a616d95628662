using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>The classification loss the trainer optimizes.</summary>
public static class Loss
{
    /// <summary>Mean cross-entropy with label smoothing <paramref name="labelSmoothing"/> (torch.nn.CrossEntropyLoss):
    /// the target distribution is (1 - eps) on the true class plus eps / C on every class.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor target, double labelSmoothing = 0)
    {
        if (labelSmoothing < 0 || labelSmoothing >= 1)
            throw new ArgumentException($"train.label_smoothing must be in [0, 1), got {labelSmoothing}.");
        return nn.functional.cross_entropy(logits, target, label_smoothing: labelSmoothing);
    }
}
