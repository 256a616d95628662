using Bcbp.Training.Fitting;
using static TorchSharp.torch;

namespace Bcbp.Tests.Fitting;

/// <summary><see cref="OutputComparison"/> against figures worked out by hand.</summary>
public class OutputComparisonTests
{
    [SetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");

    [Test]
    public void AgreementErrorsAndAccuracyOfTwoBatches()
    {
        var c = new OutputComparison();
        // batch 1 (labels 0, 0): sample 0 equal (both predict 0), sample 1 differs by (0, 0.5) (both predict 1)
        c.Add(tensor(new float[] { 2, 0, 0, 1 }).reshape(2, 2), tensor(new float[] { 2, 0, 0, 1.5f }).reshape(2, 2), tensor(new long[] { 0, 0 }));
        // batch 2 (label 1): A predicts 0, B predicts 1
        c.Add(tensor(new float[] { 1, 0 }).reshape(1, 2), tensor(new float[] { 0, 1 }).reshape(1, 2), tensor(new long[] { 1 }));
        Assert.Multiple(() =>
        {
            Assert.That(c.Samples, Is.EqualTo(3));
            Assert.That(c.Agreement, Is.EqualTo(2.0 / 3).Within(1e-12));
            Assert.That(c.Disagreements, Is.EqualTo(1));
            Assert.That(c.Top1A, Is.EqualTo(100.0 / 3).Within(1e-9)); // A right on sample 0 only
            Assert.That(c.Top1B, Is.EqualTo(200.0 / 3).Within(1e-9)); // B right on samples 0 and 2
            Assert.That(c.MaxAbsDiff, Is.EqualTo(1.0).Within(1e-6));
            Assert.That(c.MaxAbsLogit, Is.EqualTo(2.0).Within(1e-6));
            // ||B - A||^2 = 0.25 + 2, ||A||^2 = 4 + 1 + 1
            Assert.That(c.RelErr, Is.EqualTo(Math.Sqrt(2.25 / 6)).Within(1e-6));
            Assert.That(c.MaxSampleRelErr, Is.EqualTo(Math.Sqrt(2.0)).Within(1e-6));
        });
    }

    [Test]
    public void WithoutLabelsThereIsNoAccuracy()
    {
        var c = new OutputComparison();
        c.Add(ones(2, 3), ones(2, 3), null);
        Assert.That((c.Top1A, c.LossB, c.Agreement, c.RelErr), Is.EqualTo(((double?)null, (double?)null, 1.0, 0.0)));
    }
}
