using Bcbp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using Bcbp.Training.Pruning;

namespace Bcbp.Tests.Fitting;

/// <summary>train.amp (bf16, fp16 with loss scaling) and train.channels_last in the real trainer, on the CPU
/// (libtorch 2.10 runs bf16 and fp16 convolutions there, slowly).</summary>
public class MixedPrecisionTests
{
    string _dir = "";

    [SetUp]
    public void Init()
    {
        Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
        torch.set_num_threads(1);
        _dir = Directory.CreateTempSubdirectory("bcbp-amp-").FullName;
    }

    [TearDown] public void Clean() => Directory.Delete(_dir, recursive: true);

    static TrainConfig Config(AmpMode amp, bool channelsLast = false) => new()
    {
        Lr = 0.05, Momentum = 0.9, WeightDecay = 5e-4, LrSchedule = "constant", Amp = amp, ChannelsLast = channelsLast,
    };

    static nn.Module<Tensor, Tensor> ResNet20(int seed)
    {
        random.manual_seed(seed);
        return ModelFactory.Create("resnet20", 4, 1);
    }

    /// <summary>The per-step losses of <paramref name="steps"/> steps on fixed batches.</summary>
    static List<double> Losses(Trainer trainer, InMemorySource data, int steps)
    {
        var losses = new List<double>();
        foreach (var (x, y) in data.Batches(16, shuffle: false, augment: false, epoch: 0).Take(steps))
            losses.Add(trainer.Step(x, y).Loss.item<float>());
        return losses;
    }

    [Test]
    public void Bf16TrainingOfACifarResNetTracksTheFp32Run()
    {
        var data = new InMemorySource(96, seed: 5);
        var fp32Model = ResNet20(3);
        var fp32 = Losses(new Trainer(fp32Model, Config(AmpMode.Off), TrainingPhase.Dense, 1, 6, CPU), data, 6);
        var bf16Model = ResNet20(3);
        var trainer = new Trainer(bf16Model, Config(AmpMode.Bf16), TrainingPhase.Dense, 1, 6, CPU);
        var bf16 = Losses(trainer, data, 6);

        TestContext.Out.WriteLine($"fp32 {string.Join(" ", fp32.Select(l => l.ToString("F4")))}\nbf16 {string.Join(" ", bf16.Select(l => l.ToString("F4")))}");
        Assert.That(bf16, Is.Not.EqualTo(fp32), "bf16 computes in bf16, not fp32");
        // Step 0 differs by the forward pass's rounding alone; later steps by what rounding did to the updates too
        // (the fixture memorizes its 96 images, so the loss falls from 1.2 to ~0.02 in six steps).
        Assert.That(bf16[0], Is.EqualTo(fp32[0]).Within(0.01 * fp32[0]), "step 0");
        for (int i = 1; i < fp32.Count; i++)
            Assert.That(bf16[i], Is.EqualTo(fp32[i]).Within(0.1 * fp32[i] + 0.05), $"step {i}");
        Assert.That(fp32[^1], Is.LessThan(fp32[0]), "the fixture learns");
        Assert.That(bf16[^1], Is.LessThan(bf16[0]), "and so does bf16");
        // Between steps the parameters are the fp32 masters.
        Assert.That(bf16Model.parameters().All(p => p.dtype == ScalarType.Float32));
        Assert.That(trainer.Parameters.Gradient.dtype, Is.EqualTo(ScalarType.Float32));
        // Evaluation runs in bf16 too, and gives a loss near the fp32 model's.
        var eval16 = Evaluator.Evaluate(bf16Model, data, 48, precision: trainer.Precision);
        var eval32 = Evaluator.Evaluate(bf16Model, data, 48);
        Assert.That(eval16.Loss, Is.EqualTo(eval32.Loss).Within(0.05 * eval32.Loss));
    }

    [Test]
    public void Bf16GradientOfOneStepMatchesFp32sWithinRounding()
    {
        var data = new InMemorySource(32, seed: 9);
        var (x, y) = data.Batches(32, false, false, 0).First();
        var fp32 = new Trainer(ResNet20(2), Config(AmpMode.Off), TrainingPhase.Dense, 1, 1, CPU);
        var bf16 = new Trainer(ResNet20(2), Config(AmpMode.Bf16), TrainingPhase.Dense, 1, 1, CPU);
        fp32.Step(x, y);
        bf16.Step(x, y);
        for (int i = 0; i < fp32.Parameters.Parameters.Count; i++)
        {
            var g32 = fp32.Parameters.ViewOf(fp32.Parameters.Gradient, i).flatten();
            var g16 = bf16.Parameters.ViewOf(bf16.Parameters.Gradient, i).flatten();
            double cos = nn.functional.cosine_similarity(g32, g16, dim: 0).item<float>();
            Assert.That(cos, Is.GreaterThan(0.95), $"parameter {i}: the bf16 gradient points where fp32's does");
        }
        // Parameter by parameter (the two flat buffers differ in layout: amp groups the half-computed parameters first).
        Tensor All(Trainer t) => cat(Enumerable.Range(0, t.Parameters.Parameters.Count).Select(i => t.Parameters.ViewOf(t.Parameters.Gradient, i).flatten()).ToArray(), 0);
        var (a32, a16) = (All(fp32), All(bf16));
        double rel = ((a16 - a32).norm() / a32.norm()).item<float>();
        // bf16 keeps 8 bits of mantissa: through 20 layers forward and back, the gradient of random data at
        // initialization (much cancellation) is ~13% off fp32's as a whole, per tensor within cos 0.96-0.999.
        Assert.That(rel, Is.InRange(1e-6, 0.2), "close to fp32's, and not fp32's");
    }

    /// <summary>After the pruning hook: the weights the forward pass used (compute copy) and the masters after the
    /// step are exactly zero where the mask is.</summary>
    sealed class MaskChecker(PruningHook hook) : ITrainingHook
    {
        public int ComputeChecks, MasterChecks;
        public readonly List<string> Problems = new();

        public void OnAfterBackward(TrainContext ctx)
        {
            using var _ = no_grad();
            foreach (var l in hook.Layers)
            {
                var w = l.Weight;
                if (w.dtype != ScalarType.BFloat16) Problems.Add($"{l.Name} computes in {w.dtype}");
                if (w.masked_select(l.Mask.eq(0)).count_nonzero().item<long>() != 0) Problems.Add($"{l.Name}: compute copy not zero at step {ctx.GlobalStep}");
                if (w.grad is { } g && g.masked_select(l.Mask.eq(0)).count_nonzero().item<long>() != 0) Problems.Add($"{l.Name}: gradient not masked");
                ComputeChecks++;
            }
        }

        public void OnAfterOptimizerStep(TrainContext ctx)
        {
            using var _ = no_grad();
            foreach (var l in hook.Layers)
            {
                var w = l.Weight;
                if (w.dtype != ScalarType.Float32) Problems.Add($"{l.Name} master is {w.dtype}");
                if (w.masked_select(l.Mask.eq(0)).count_nonzero().item<long>() != 0) Problems.Add($"{l.Name}: master not zero at step {ctx.GlobalStep}");
                MasterChecks++;
            }
        }
    }

    [TestCase("bcbp")]
    [TestCase("unstructured")]
    public void MasksAreExactZerosInMasterAndComputeCopyThroughPruningUpdates(string method)
    {
        var model = ResNet20(0);
        var data = new InMemorySource(64, seed: 2);
        var prune = new PruneConfig
        {
            Method = method, Sparsity = 0.75, TileRows = 16, FinetuneEpochs = 3,
            Schedule = new ScheduleConfig { Kind = "cubic", StartEpoch = 0, EndEpoch = 2, Frequency = 2 },
        };
        const int stepsPerEpoch = 4;
        var hook = PruningHook.Create(prune, model, stepsPerEpoch, Serilog.Core.Logger.None);
        var checker = new MaskChecker(hook);
        var trainer = new Trainer(model, Config(AmpMode.Bf16, channelsLast: true), TrainingPhase.Finetune, prune.FinetuneEpochs,
                                  stepsPerEpoch, CPU, new ITrainingHook[] { hook, checker });
        trainer.Fit(data, data, new FitOptions { BatchSize = 16, Augment = false });

        Assert.That(checker.Problems, Is.Empty);
        Assert.That(checker.MasterChecks, Is.EqualTo(hook.Layers.Count * 12));
        Assert.That(checker.ComputeChecks, Is.EqualTo(hook.Layers.Count * 12));
        Assert.That(hook.AchievedSparsity, Is.EqualTo(0.75).Within(0.01));
        // A cast of the final masters has the final masks' zeros too.
        using (trainer.Precision.UseComputeWeights())
            foreach (var l in hook.Layers)
                Assert.That(l.Weight.masked_select(l.Mask.eq(0)).count_nonzero().item<long>(), Is.Zero, l.Name);
    }

    [Test]
    public void LossScalerBacksOffOnNonFiniteGradientsAndGrowsAfterCleanSteps()
    {
        var scaler = new LossScaler(growthInterval: 3);
        Assert.That(scaler.Scale, Is.EqualTo(65536.0));
        var grad = full(4, 65536.0f);
        Assert.That(scaler.UnscaleAndUpdate(grad), Is.True);
        Assert.That(grad.eq(1.0f).all().item<bool>(), "unscaled in place");
        var bad = tensor(new[] { 1f, float.PositiveInfinity, 0f, 2f });
        Assert.That(scaler.UnscaleAndUpdate(bad), Is.False);
        Assert.That(scaler.Scale, Is.EqualTo(32768.0));
        Assert.That(scaler.GoodSteps, Is.Zero);
        Assert.That(scaler.UnscaleAndUpdate(tensor(new[] { float.NaN })), Is.False);
        Assert.That(scaler.Scale, Is.EqualTo(16384.0));
        for (int i = 0; i < 2; i++) Assert.That(scaler.UnscaleAndUpdate(ones(2)), Is.True);
        Assert.That(scaler.Scale, Is.EqualTo(16384.0), "two clean steps: not yet");
        Assert.That(scaler.UnscaleAndUpdate(ones(2)), Is.True);
        Assert.That(scaler.Scale, Is.EqualTo(32768.0), "the third doubles it");
        Assert.That(scaler.GoodSteps, Is.Zero);
        Assert.That(scaler.SkippedSteps, Is.EqualTo(2));
    }

    /// <summary>Writes inf into one gradient at the given global steps (after backward, before the gather).</summary>
    sealed class InfInjector(params long[] steps) : ITrainingHook
    {
        public void OnAfterBackward(TrainContext ctx)
        {
            if (!steps.Contains(ctx.GlobalStep)) return;
            using var _ = no_grad();
            var p = ctx.Model.parameters().First(p => p.grad is not null);
            p.grad!.view(-1)[0] = float.PositiveInfinity;
        }
    }

    [Test]
    public void Fp16SkipsTheStepOnAnInfiniteGradientAndHalvesTheScale()
    {
        random.manual_seed(4);
        var model = new TinyNet();
        var trainer = new Trainer(model, Config(AmpMode.Fp16), TrainingPhase.Dense, 1, 4, CPU, new[] { new InfInjector(1) });
        var data = new InMemorySource(64, seed: 1);
        var batches = data.Batches(16, false, false, 0).ToList();
        trainer.Step(batches[0].Input, batches[0].Target);
        Assert.That(trainer.LastStepSkipped, Is.False);
        Assert.That(trainer.Scaler!.Scale, Is.EqualTo(65536.0));
        var before = trainer.Parameters.Flat.detach().clone();
        trainer.Step(batches[1].Input, batches[1].Target);
        Assert.That(trainer.LastStepSkipped, Is.True);
        Assert.That(trainer.Scaler.Scale, Is.EqualTo(32768.0));
        Assert.That(Same(trainer.Parameters.Flat, before), "a skipped step leaves the masters as they were");
        trainer.Step(batches[2].Input, batches[2].Target);
        Assert.That(trainer.LastStepSkipped, Is.False);
        Assert.That(Same(trainer.Parameters.Flat, before), Is.False, "the next clean step updates them");
        Assert.That(model.parameters().All(p => p.dtype == ScalarType.Float32));
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    sealed class SimulatedKill : Exception;

    [TestCase(AmpMode.Bf16, true)]
    [TestCase(AmpMode.Fp16, false)]
    public void ResumeUnderAmpEndsWhereAnUninterruptedRunDoes(AmpMode amp, bool channelsLast)
    {
        var data = new InMemorySource(64, seed: 3);
        var options = new FitOptions { BatchSize = 16, Seed = 7, Augment = false };
        // fp16: two overflowing steps in the first epoch halve the scale twice; the resumed run must start from it.
        var hooks = amp == AmpMode.Fp16 ? new ITrainingHook[] { new InfInjector(1, 2) } : Array.Empty<ITrainingHook>();
        Trainer New(nn.Module<Tensor, Tensor> m) =>
            new(m, Config(amp, channelsLast), TrainingPhase.Dense, epochs: 2, stepsPerEpoch: 4, CPU, hooks);

        random.manual_seed(5);
        var straight = new TinyNet();
        var straightTrainer = New(straight);
        var full = straightTrainer.Fit(data, data, options with { CheckpointPath = Path.Combine(_dir, "a.bin") });

        random.manual_seed(5);
        var killed = new TinyNet();
        var path = Path.Combine(_dir, "b.bin");
        Assert.That(() => New(killed).Fit(data, data,
            options with { CheckpointPath = path, OnEpoch = (m, _) => { if (m.Epoch == 1) throw new SimulatedKill(); } }),
            Throws.InstanceOf<SimulatedKill>());
        var saved = Checkpoint.ReadState(path);
        Assert.That(saved.ChannelsLast, Is.EqualTo(channelsLast));
        Assert.That(saved.LossScale, amp == AmpMode.Fp16 ? Is.EqualTo(16384.0) : Is.Null, "two skipped steps halve the scale twice");

        random.manual_seed(1234);
        var resumed = new TinyNet();
        var resumedTrainer = New(resumed);
        var result = resumedTrainer.Fit(data, data, options with { CheckpointPath = path, Resume = true });

        Assert.That(result.State.History.Select(h => h.TrainLoss), Is.EqualTo(full.State.History.Select(h => h.TrainLoss)));
        Assert.That(resumedTrainer.Scaler?.Scale, Is.EqualTo(straightTrainer.Scaler?.Scale));
        var expected = straight.state_dict();
        foreach (var (name, t) in resumed.state_dict())
            Assert.That(Same(t, expected[name]), $"{name} differs between resumed and uninterrupted runs");

        // The optimizer state is laid out for the checkpoint's channels_last: another layout is refused, by name.
        var other = new Trainer(new TinyNet(), Config(amp, !channelsLast), TrainingPhase.Dense, 2, 4, CPU);
        Assert.That(() => other.Fit(data, data, options with { CheckpointPath = path, Resume = true }),
            Throws.InstanceOf<CheckpointException>().With.Message.Contains($"--set train.channels_last={(channelsLast ? "true" : "false")}"));
    }

    [Test]
    public void ChannelsLastGivesTheSameLossesWithNhwcStridedWeights()
    {
        var data = new InMemorySource(64, seed: 8);
        var plainModel = ResNet20(6);
        var plain = Losses(new Trainer(plainModel, Config(AmpMode.Off, false), TrainingPhase.Dense, 1, 4, CPU), data, 4);
        var nhwcModel = ResNet20(6);
        var trainer = new Trainer(nhwcModel, Config(AmpMode.Off, true), TrainingPhase.Dense, 1, 4, CPU);
        var nhwc = Losses(trainer, data, 4);

        for (int i = 0; i < plain.Count; i++) Assert.That(nhwc[i], Is.EqualTo(plain[i]).Within(1e-4 * plain[i]), $"step {i}");
        var reference = plainModel.state_dict();
        int convs = 0;
        foreach (var (name, p) in nhwcModel.named_parameters())
        {
            Assert.That(p.allclose(reference[name], rtol: 1e-4, atol: 1e-5), name);
            if (p.dim() != 4) continue;
            long o = p.shape[0], i = p.shape[1], h = p.shape[2], w = p.shape[3];
            Assert.That(p.stride(), Is.EqualTo(new[] { h * w * i, 1, w * i, i }), $"{name} is NHWC-strided");
            convs++;
        }
        Assert.That(convs, Is.EqualTo(19));
        // The state dict still saves (both writers make tensors contiguous) and loads back equal.
        var file = Path.Combine(_dir, "m.safetensors");
        Bcbp.Models.IO.StateDictIO.Save(nhwcModel, file);
        var back = ResNet20(99);
        Bcbp.Models.IO.StateDictIO.Load(back, file);
        foreach (var (name, t) in back.state_dict()) Assert.That(Same(t, nhwcModel.state_dict()[name]), name);
    }

    [TestCase(false)]
    [TestCase(true)]
    public void BucketsCoverTheFlatGradientOnceInReverseOrderAndGatherEveryGradient(bool channelsLast)
    {
        var model = ResNet20(1);
        var flat = new FlatParameters(model, channelsLast, bucketBytes: 64 * 1024);
        long total = flat.Flat.numel();
        Assert.That(flat.Buckets.Count, Is.GreaterThan(3));
        // Reverse registration order: bucket 0 ends at the flat's end and holds the last parameter; each next one
        // ends where the previous began; together they start at 0.
        Assert.That(flat.Buckets[0].Parameters, Does.Contain(flat.Parameters.Count - 1));
        long end = total;
        var seen = new List<int>();
        foreach (var b in flat.Buckets)
        {
            Assert.That(b.Offset + b.Length, Is.EqualTo(end), $"bucket {b.Index} is adjacent to the one before");
            Assert.That(b.View.numel(), Is.EqualTo(b.Length));
            Assert.That(b.Parameters, Is.Ordered);
            Assert.That(flat.OffsetOf(b.Parameters[0]), Is.EqualTo(b.Offset));
            seen.AddRange(b.Parameters);
            end = b.Offset;
        }
        Assert.That(end, Is.Zero);
        Assert.That(seen.OrderBy(i => i), Is.EqualTo(Enumerable.Range(0, flat.Parameters.Count)), "every parameter in exactly one bucket");
        // The views are the gradient's storage.
        using (no_grad()) foreach (var b in flat.Buckets) b.View.fill_(b.Index + 1);
        Assert.That(flat.Gradient.eq(0).any().item<bool>(), Is.False);

        AssertGatherIsExact(model, flat);
    }

    /// <summary>One backward pass, then the flat gradient holds every parameter's gradient in its slice.</summary>
    static void AssertGatherIsExact(nn.Module<Tensor, Tensor> model, FlatParameters flat)
    {
        var (x, y) = new InMemorySource(16, seed: 1).Batches(16, false, false, 0).First();
        Loss.CrossEntropy(model.call(x), y).backward();
        flat.GatherGradients();
        for (int i = 0; i < flat.Parameters.Count; i++)
            Assert.That(Same(flat.ViewOf(flat.Gradient, i), flat.Parameters[i].grad!), $"parameter {i}'s gradient");
    }

    [Test]
    public void UnderAmpEveryBucketHasOneComputeDtypeAndBucketsComeInTheOrderBackwardCompletesThem()
    {
        var model = ResNet20(1);
        var half = MixedPrecision.ComputeTyped(model);
        var flat = new FlatParameters(model, channelsLast: true, bucketBytes: 64 * 1024, group: p => half.Contains(p) ? 0 : 1);
        Assert.That(flat.Grouped);
        var seen = new List<int>();
        foreach (var b in flat.Buckets)
        {
            var kinds = b.Parameters.Select(i => half.Contains(flat.Parameters[i])).Distinct().ToList();
            Assert.That(kinds, Has.Count.EqualTo(1), $"bucket {b.Index} mixes half-computed and fp32 parameters");
            Assert.That(b.Parameters.Select(flat.OffsetOf), Is.Ordered, "a bucket's slices run upwards");
            long covered = b.Parameters.Sum(i => flat.Parameters[i].numel());
            Assert.That(covered, Is.EqualTo(b.Length), $"bucket {b.Index} is one contiguous range of its parameters");
            seen.AddRange(b.Parameters);
        }
        Assert.That(seen.OrderBy(i => i), Is.EqualTo(Enumerable.Range(0, flat.Parameters.Count)), "every parameter in exactly one bucket");
        // Backward completes a bucket with its earliest-registered parameter: the buckets are listed latest first.
        Assert.That(flat.Buckets.Select(b => b.Parameters.Min()), Is.Ordered.Descending);
        AssertGatherIsExact(model, flat);   // and the gather is still exact
    }

    [Test]
    public void ADisposedTrainerFreesItsBuffersAndTheNextPhaseTrainsOnTheSameModel()
    {
        var model = ResNet20(4);
        var (x, y) = new InMemorySource(16, seed: 4).Batches(16, false, false, 0).First();
        var first = new Trainer(model, Config(AmpMode.Bf16), TrainingPhase.Dense, 1, 1, CPU);
        first.Step(x, y);
        var gradient = first.Parameters.Gradient;
        var weights = model.parameters().Select(p => p.detach().clone()).ToArray();
        first.Dispose();
        first.Dispose();                                   // idempotent
        Assert.That(gradient.IsInvalid, "the flat gradient is freed");
        Assert.That(model.parameters().Zip(weights).All(p => Same(p.First.detach(), p.Second)), "the model keeps its weights");
        Assert.That(model.parameters().All(p => p.grad is null), "no gradient of the finished phase is held");
        using var second = new Trainer(model, Config(AmpMode.Bf16), TrainingPhase.Finetune, 1, 1, CPU);
        var (loss, _) = second.Step(x, y);
        Assert.That(double.IsFinite(loss.item<float>()));
    }
}
