using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

public class ConversionTests
{
    [SetUp] public void Setup() => KernelTestSupport.UseCpu();

    /// <summary>A tiny pruned conv net: fields typed as modules so sparse ones can take their place.</summary>
    sealed class TinyNet : nn.Module<Tensor, Tensor>
    {
        private nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(3, 16, 3, padding: 1, bias: false);
        private BatchNorm2d bn1 = nn.BatchNorm2d(16);
        private Sequential block = nn.Sequential(("0", nn.Conv2d(16, 32, 3, stride: 2, padding: 1, bias: false)), ("1", nn.BatchNorm2d(32)), ("2", nn.ReLU()));
        private nn.Module<Tensor, Tensor> fc = nn.Linear(32, 8);

        public TinyNet() : base(nameof(TinyNet)) { RegisterComponents(); }

        public override Tensor forward(Tensor x)
        {
            var h = bn1.forward(conv1.forward(x)).relu();
            h = block.forward(h);
            return fc.forward(h.mean(new long[] { 2, 3 }));
        }
    }

    static TinyNet PrunedNet(Generator gen)
    {
        var net = new TinyNet();
        using var _ = no_grad();
        foreach (var (name, m) in net.named_modules())
        {
            if (m is BatchNorm2d bn)
            {
                bn.running_mean!.copy_(randn(bn.running_mean.shape, generator: gen) * 0.1);
                bn.running_var!.copy_(rand(bn.running_var.shape, generator: gen) + 0.5);
                bn.weight!.copy_(randn(bn.weight.shape, generator: gen));
                bn.bias!.copy_(randn(bn.bias.shape, generator: gen));
            }
            Tensor? w = m switch { Conv2d c => c.weight, Linear l => l.weight, _ => null };
            if (w is null) continue;
            var mask = SyntheticMasks.MagnitudeBcbp(w, 8, 0.5);
            w.mul_(mask);                                   // a masked model: the pruning hook keeps weight * mask
            m.register_buffer("weight_mask", mask);
        }
        net.eval();
        return net;
    }

    [TestCase(false)]
    [TestCase(true)]
    public void ConvertedModelMatchesTheMaskedDenseModel(bool foldBatchNorm)
    {
        var gen = new Generator(8);
        var net = PrunedNet(gen);
        var x = randn(new long[] { 2, 3, 8, 8 }, generator: gen);
        var expected = net.forward(x).detach();

        var converted = SparseConversion.Convert(net, tileRows: 8, foldBatchNorm: foldBatchNorm).Converted;

        Assert.That(converted, Is.EquivalentTo(new[] { "conv1", "block.0", "fc" }));
        var children = net.named_modules().ToDictionary(p => p.name, p => p.module);
        var y = net.forward(x);
        Assert.That(KernelTestSupport.RelErr(y, expected), Is.LessThan(1e-5));
        Assert.That(children["block"].named_children().First().module, Is.InstanceOf<BcbpConv2d>());
    }

    /// <summary>TorchSharp registers a child module's tensor fields as buffers, and <c>module.to(...)</c> replaces and
    /// disposes them: a suite's --sparse-eval met a packing made from such a disposed bias on the GPU ("Tensor invalid --
    /// empty handle"), and the folded bias was rounded to fp16. The sparse modules' fp32 bias is no buffer: it survives
    /// <c>to()</c> unchanged, and so does the packing made from it.</summary>
    [Test]
    public void PackingAfterModuleToReadsTheMovedBiasNotTheDisposedOne()
    {
        var gen = new Generator(10);
        var w = randn(new long[] { 32, 16 * 9 }, generator: gen);
        var mask = SyntheticMasks.RandomBcbp(32, 16 * 9, 32, 0.5, gen);
        var weight = BcbpMatrix.Pack(w * mask, mask, 32);
        var bias = randn(32, generator: gen);
        var path = Bcbp.Kernels.Ops.KernelPath.MmaSync;   // named, so packing on the CPU asks no GPU which kernel to use
        var conv = new BcbpConv2d(weight, 16, new Bcbp.Kernels.Ops.ConvGeometry(3, 3, PadH: 1, PadW: 1), bias) { Path = path };
        var fc = new BcbpLinear(BcbpMatrix.Pack(w * mask, mask, 32), bias) { Path = path };
        var parent = nn.Sequential();
        parent.register_module("conv", conv);   // as SparseResidualBlock does: TorchSharp registers the child's tensor fields
        parent.register_module("fc", fc);

        conv.to(ScalarType.Float64);   // a real conversion on the CPU: new tensors, the old ones disposed
        fc.to(ScalarType.Float64);

        Assert.That(conv.named_buffers().Concat(fc.named_buffers()), Is.Empty, "no tensor of the sparse modules is a buffer");
        Assert.That(conv.Bias!.dtype, Is.EqualTo(ScalarType.Float32), "the folded bias keeps its precision");
        Assert.That(conv.Bias.allclose(bias) && fc.Bias!.allclose(bias), Is.True);
        foreach (var packedBias in new[] { conv.PackedFor(CPU, ScalarType.Float16).Bias!, fc.PackedFor(CPU, ScalarType.Float16).Bias! })
        {
            Assert.That(packedBias.dtype, Is.EqualTo(ScalarType.Float32), "the kernels' bias is fp32");
            Assert.That(packedBias.allclose(bias), Is.True);
        }
    }

    [Test]
    public void BatchNormFoldingMatchesConvThenBatchNorm()
    {
        var gen = new Generator(9);
        var conv = nn.Conv2d(4, 6, 3, padding: 1);
        var bn = nn.BatchNorm2d(6);
        using (no_grad())
        {
            bn.running_mean!.copy_(randn(6, generator: gen));
            bn.running_var!.copy_(rand(6, generator: gen) + 0.2);
            bn.weight!.copy_(randn(6, generator: gen));
            bn.bias!.copy_(randn(6, generator: gen));
        }
        bn.eval();
        var x = randn(new long[] { 2, 4, 5, 5 }, generator: gen);
        var expected = bn.forward(conv.forward(x));
        var (w, b) = BatchNormFolding.Fold(conv.weight!, conv.bias, bn);
        var folded = nn.functional.conv2d(x, w, b, padding: new long[] { 1 });
        Assert.That(KernelTestSupport.RelErr(folded, expected), Is.LessThan(1e-5));

        BatchNormFolding.MakeIdentity(bn);
        Assert.That(KernelTestSupport.RelErr(bn.forward(folded), folded), Is.LessThan(1e-6));
    }

    sealed class ConcreteFieldNet : nn.Module<Tensor, Tensor>
    {
        private Conv2d conv = nn.Conv2d(2, 8, 1, bias: false);
        public ConcreteFieldNet() : base(nameof(ConcreteFieldNet)) { RegisterComponents(); }
        public override Tensor forward(Tensor x) => conv.forward(x);
    }

    [Test]
    public void FieldThatCannotHoldASparseModuleIsLeftDenseAndReportedWithTheFix()
    {
        var net = new ConcreteFieldNet();
        var conv = net.named_modules().First(p => p.name == "conv").module;
        conv.register_buffer("weight_mask", ones(8, 2, 1, 1));
        var result = SparseConversion.Convert(net, 8);
        Assert.That(result.Converted, Is.Empty);
        Assert.That(result.LeftDense.Single().Name, Is.EqualTo("conv"));
        Assert.That(result.LeftDense.Single().Reason, Does.Contain("ConcreteFieldNet.conv").And.Contain("nn.Module<Tensor, Tensor>"));
        Assert.That(net.named_modules().First(p => p.name == "conv").module, Is.InstanceOf<Conv2d>());
    }

    [Test]
    public void UnbalancedMaskBecomesBlockSparseUnderAutoAndIsRefusedUnderBcbp()
    {
        var lin = nn.Sequential(("0", nn.Linear(6, 8)));
        var mask = zeros(8, 6);
        mask.narrow(0, 0, 4).narrow(1, 0, 3).fill_(1);
        mask.narrow(0, 4, 4).narrow(1, 0, 1).fill_(1);
        lin.named_modules().First(p => p.name == "0").module.register_buffer("weight_mask", mask);
        Assert.Throws<ArgumentException>(() => SparseConversion.Convert(lin, 4, SparseLayout.Bcbp));
        SparseConversion.Convert(lin, 4, SparseLayout.Auto);
        var converted = (BcbpLinear)lin.named_children().First().module;
        Assert.That(converted.Weight, Is.InstanceOf<BlockSparseMatrix>());
    }
}

public class ResNetConversionTests
{
    [SetUp] public void Setup() => KernelTestSupport.UseCpu();


    [Test]
    public void CifarResNet20PrunedByBcbpConvertsAndMatchesTheMaskedDenseModel()
    {
        using var _ = no_grad();
        var gen = new Generator(21);
        var model = Bcbp.Models.ModelFactory.Create("resnet20", 10, 3);
        KernelTestSupport.RandomizeBatchNorms(model, gen);
        // The pruning pipeline's own masks: bcbp at 75% with 16-row tiles on the 18 block convs (stem and fc excluded).
        var prune = new Bcbp.Training.Config.PruneConfig
        {
            Method = "bcbp", Sparsity = 0.75, TileRows = 16, Schedule = new Bcbp.Training.Config.ScheduleConfig { Kind = "one_shot" },
        };
        Bcbp.Training.Pruning.PruningHook.Create(prune, model, 1, Serilog.Core.Logger.None).UpdateMasks(1.0);
        model.eval();
        var x = randn(new long[] { 3, 3, 32, 32 }, generator: gen);
        var expected = model.forward(x).detach();

        var converted = SparseConversion.Convert(model, 16, SparseLayout.Bcbp, foldBatchNorm: true).Converted;

        Assert.That(converted, Has.Count.EqualTo(18));
        Assert.That(converted, Does.Contain("layer1.0.conv1").And.Contain("layer3.2.conv2").And.Not.Contain("conv1").And.Not.Contain("fc"));
        var modules = model.named_modules().ToDictionary(p => p.name, p => p.module);
        Assert.That(converted.Select(n => ((BcbpConv2d)modules[n]).Weight), Has.All.InstanceOf<BcbpMatrix>());
        Assert.That(modules.Values.Count(m => m is BatchNorm2d), Is.EqualTo(1), "every block BN is folded; the stem's stays");
        // With BN folded every block runs fused: ReLUs and the residual add in the kernels' epilogues.
        Assert.That(modules.Values.Count(m => m is SparseResidualBlock), Is.EqualTo(9));
        Assert.That(modules["layer2.0"], Is.InstanceOf<SparseResidualBlock>());
        var y = model.forward(x);
        Assert.That(KernelTestSupport.RelErr(y, expected), Is.LessThan(1e-5));
        Assert.That(y.argmax(1).eq(expected.argmax(1)).all().item<bool>());
    }

    [Test]
    public void BcbpResNet50WithFoldedBatchNormMatchesTheMaskedDenseModel()
    {
        using var _ = no_grad();
        var gen = new Generator(12);
        var model = Bcbp.Models.ModelFactory.Create("resnet50", numClasses: 10);
        KernelTestSupport.RandomizeBatchNorms(model, gen);
        foreach (var (name, m) in model.named_modules())
            if (m is Conv2d conv && name != "conv1")
            {
                var mask = SyntheticMasks.MagnitudeBcbp(conv.weight!, 64, 0.75);
                conv.weight!.mul_(mask);
                conv.register_buffer("weight_mask", mask);
            }
        model.eval();
        var x = randn(new long[] { 1, 3, 32, 32 }, generator: gen);
        var expected = model.forward(x);
        var converted = SparseConversion.Convert(model, 64, SparseLayout.Bcbp, foldBatchNorm: true).Converted;
        Assert.That(converted.Count, Is.EqualTo(52));                      // 16 blocks x 3 convs + 4 projections
        Assert.That(model.named_modules().Count(p => p.module is BatchNorm2d), Is.EqualTo(1)); // only the stem's BN stays
        Assert.That(model.named_modules().Count(p => p.module is SparseResidualBlock), Is.EqualTo(16));
        Assert.That(KernelTestSupport.RelErr(model.forward(x), expected), Is.LessThan(1e-4));
    }

    [Test]
    public void UnfusedConversionKeepsTheBlocksAndMatchesToo()
    {
        using var _ = no_grad();
        var gen = new Generator(13);
        var model = Bcbp.Models.ModelFactory.Create("resnet18", numClasses: 10);
        KernelTestSupport.RandomizeBatchNorms(model, gen);
        Prune(model, 16, 0.5, except: "conv1");
        model.eval();
        var x = randn(new long[] { 2, 3, 32, 32 }, generator: gen);
        var expected = model.forward(x);
        SparseConversion.Convert(model, 16, SparseLayout.Bcbp, foldBatchNorm: true, fuse: false);
        Assert.That(model.named_modules().Count(p => p.module is SparseResidualBlock), Is.Zero);
        Assert.That(KernelTestSupport.RelErr(model.forward(x), expected), Is.LessThan(1e-4));
    }

    [Test]
    public void VggReLUsMoveIntoTheSparseConvs()
    {
        using var _ = no_grad();
        var gen = new Generator(14);
        var model = Bcbp.Models.ModelFactory.Create("vgg16_cifar", numClasses: 10);
        KernelTestSupport.RandomizeBatchNorms(model, gen);
        Prune(model, 16, 0.5, except: "");
        model.eval();
        var x = randn(new long[] { 2, 3, 32, 32 }, generator: gen);
        var expected = model.forward(x);
        SparseConversion.Convert(model, 16, SparseLayout.Bcbp, foldBatchNorm: true);
        var modules = model.named_modules().ToDictionary(p => p.name, p => p.module);
        Assert.That(modules.Values.OfType<BcbpConv2d>().Count(c => c.FusedRelu), Is.EqualTo(13), "every conv's ReLU is fused");
        Assert.That(modules.Values.Count(m => m is ReLU), Is.EqualTo(2), "the classifier's ReLUs follow dense linear layers and stay");
        Assert.That(modules.Values.Count(m => m is ChwnMaxPool2d), Is.EqualTo(5), "every 2x2 pool after a sparse conv keeps its layout");
        Assert.That(KernelTestSupport.RelErr(model.forward(x), expected), Is.LessThan(1e-4));
    }

    [Test]
    public void ChwnMaxPoolMatchesMaxPool2dAndKeepsTheBatchInnermost()
    {
        var gen = new Generator(15);
        var pool = new ChwnMaxPool2d(nn.MaxPool2d(2, 2));
        var chwnView = randn(new long[] { 5, 6, 8, 3 }, generator: gen).permute(3, 0, 1, 2);   // [B x C x H x W] over CHWN memory
        var y = pool.forward(chwnView);
        Assert.That(KernelTestSupport.Same(y.contiguous(), nn.functional.max_pool2d(chwnView.contiguous(), 2, 2)));
        Assert.That(y.permute(1, 2, 3, 0).is_contiguous(), "the output is CHWN memory too");
        var odd = randn(new long[] { 3, 5, 7, 7 }, generator: gen);                             // NCHW, odd size: the pool it replaced
        Assert.That(KernelTestSupport.Same(pool.forward(odd), nn.functional.max_pool2d(odd, 2, 2)));
    }

    static void Prune(nn.Module model, int tileRows, double sparsity, string except)
    {
        foreach (var (name, m) in model.named_modules())
        {
            if (m is not Conv2d conv || name == except || conv.weight!.shape[0] % tileRows != 0) continue;
            var w = conv.weight!;
            var mask = SyntheticMasks.MagnitudeBcbp(w, tileRows, sparsity);
            w.mul_(mask);
            m.register_buffer("weight_mask", mask);
        }
    }
}
