using Bcbp.Training.Data;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Shrink;

/// <summary>
/// How closely two models (the masked one, A, and the shrunk one, B) agree on a test split (an
/// <see cref="OutputComparison"/>): top-1 of each, the fraction of images with the same predicted class, the largest
/// |logit difference| and the largest |logit| (the scale a tolerance is relative to). A third model (B reloaded from
/// its files) is compared with B on the first batch.
/// </summary>
public sealed record OutputAgreement(int Images, double Top1A, double Top1B, double SameClass, double MaxAbsDiff, double MaxAbsLogit,
                                     double ReloadMaxAbsDiff)
{
    public static OutputAgreement Measure(nn.Module<Tensor, Tensor> a, nn.Module<Tensor, Tensor> b, nn.Module<Tensor, Tensor> reloadedB,
                                          IBatchSource test, int batchSize)
    {
        using var _ = no_grad();
        var ab = new OutputComparison();
        var reload = new OutputComparison();
        foreach (var (input, target) in test.Batches(batchSize, shuffle: false, augment: false, epoch: 0))
        {
            using var scope = NewDisposeScope();
            var lb = b.call(input);
            ab.Add(a.call(input), lb, target);
            if (reload.Samples == 0) reload.Add(lb, reloadedB.call(input), null);
        }
        if (ab.Samples == 0) throw new InvalidOperationException("the test split is empty: check the run's data.root and data.num_test.");
        return new OutputAgreement((int)ab.Samples, ab.Top1A!.Value, ab.Top1B!.Value, ab.Agreement, ab.MaxAbsDiff, ab.MaxAbsLogit,
                                   reload.MaxAbsDiff);
    }
}
