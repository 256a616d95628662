using Bcbp.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Shrink;

/// <summary>
/// How closely two models (the masked one, A, and the shrunk one, B) agree on a test split: top-1 of each, the
/// fraction of images with the same predicted class, the largest |logit difference| and the largest |logit| (the scale
/// a tolerance is relative to). A third model (B reloaded from its files) is compared with B on the first batch.
/// </summary>
public sealed record OutputAgreement(int Images, double Top1A, double Top1B, double SameClass, double MaxAbsDiff, double MaxAbsLogit,
                                     double ReloadMaxAbsDiff)
{
    public static OutputAgreement Measure(nn.Module<Tensor, Tensor> a, nn.Module<Tensor, Tensor> b, nn.Module<Tensor, Tensor> reloadedB,
                                          IBatchSource test, int batchSize)
    {
        using var _ = no_grad();
        long images = 0, hitsA = 0, hitsB = 0, same = 0;
        double maxDiff = 0, maxLogit = 0, reloadDiff = 0;
        bool first = true;
        foreach (var (input, target) in test.Batches(batchSize, shuffle: false, augment: false, epoch: 0))
        {
            using var scope = NewDisposeScope();
            var la = a.call(input);
            var lb = b.call(input);
            var pa = la.argmax(1);
            var pb = lb.argmax(1);
            images += target.shape[0];
            hitsA += pa.eq(target).sum().item<long>();
            hitsB += pb.eq(target).sum().item<long>();
            same += pa.eq(pb).sum().item<long>();
            maxDiff = Math.Max(maxDiff, (la - lb).abs().max().item<float>());
            maxLogit = Math.Max(maxLogit, la.abs().max().item<float>());
            if (first) reloadDiff = (reloadedB.call(input) - lb).abs().max().item<float>();
            first = false;
        }
        if (images == 0) throw new InvalidOperationException("the test split is empty: check the run's data.root and data.num_test.");
        return new OutputAgreement((int)images, 100.0 * hitsA / images, 100.0 * hitsB / images, (double)same / images, maxDiff, maxLogit, reloadDiff);
    }
}
