using Bcbp.Training.Fitting;
using TorchSharp;

namespace Bcbp.Tests.Fitting;

public class LossTests
{
    [SetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    [Test]
    public void LabelSmoothingMatchesHandComputedCrossEntropy()
    {
        double[][] logits = { new[] { 2.0, 0.5, -1.0 }, new[] { 0.1, 0.2, 3.0 } };
        long[] target = { 0, 1 };
        const double eps = 0.1;
        double expected = 0;
        for (int i = 0; i < 2; i++)
        {
            double lse = Math.Log(logits[i].Sum(Math.Exp));
            var logp = logits[i].Select(z => z - lse).ToArray();
            // Target distribution: (1 - eps) one-hot + eps / C uniform.
            expected += -logp.Select((lp, c) => ((c == target[i] ? 1 - eps : 0) + eps / 3) * lp).Sum();
        }
        expected /= 2;
        var t = torch.tensor(logits.SelectMany(r => r).ToArray()).reshape(2, 3);
        var loss = Loss.CrossEntropy(t, torch.tensor(target), eps).item<double>();
        Assert.That(loss, Is.EqualTo(expected).Within(1e-9));
        var plain = Loss.CrossEntropy(t, torch.tensor(target)).item<double>();
        Assert.That(plain, Is.Not.EqualTo(loss).Within(1e-6));
    }

    [Test]
    public void SmoothingOutsideZeroToOneIsRejected()
    {
        Assert.That(() => Loss.CrossEntropy(torch.zeros(1, 3), torch.zeros(1, dtype: torch.int64), 1.0),
            Throws.ArgumentException.With.Message.Contains("train.label_smoothing"));
    }
}
