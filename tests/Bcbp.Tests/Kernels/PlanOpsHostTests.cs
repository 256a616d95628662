using Bcbp.Kernels.Plan;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Kernels;

/// <summary>
/// The whole-model plan's own kernels (Cuda/plan_ops.cu: input transpose, max and average pooling, option-A shortcut),
/// their real source compiled for the host (<see cref="HostKernels"/>) and launched exactly as
/// <see cref="PlanOps.Describe"/> says the GPU launches them, against TorchSharp's ops on the same fp16/bf16 values.
/// Catches index, layout and launch-shape mistakes without a GPU.
/// </summary>
public class PlanOpsHostTests
{
    HostKernels _host = null!;

    [OneTimeSetUp]
    public void Build()
    {
        KernelTestSupport.UseCpu();
        _host = new HostKernels();
    }

    [OneTimeTearDown] public void Clean() => _host?.Dispose();

    /// <summary>Runs <paramref name="step"/>'s kernel on the host over <paramref name="buffers"/> (by plan buffer
    /// index; the output's initial content included) and returns the output buffer.</summary>
    Tensor Launch(PlanStep step, PlanGraph graph, Dictionary<int, Tensor> buffers, bool bf16)
    {
        var op = PlanOps.Describe(step, graph);
        var args = op.Args.Select(a => a switch
        {
            BufferArg b => (HostKernels.Arg)new HostKernels.Buffer(buffers[b.Index]),
            IntArg i => new HostKernels.Int(i.Value),
            LongArg l => new HostKernels.Long(l.Value),
            _ => throw new InvalidOperationException($"unknown kernel argument {a}"),
        }).ToArray();
        var outputs = _host.Launch(op.Kernel, (op.Grid.X, op.Grid.Y, op.Grid.Z), op.Threads, bf16, args);
        // The output is the buffer argument with the step's output index.
        int k = op.Args.OfType<BufferArg>().Select((b, i) => (b, i)).First(p => p.b.Index == step.Output).i;
        return outputs[k];
    }

    static ScalarType Type(bool bf16) => bf16 ? ScalarType.BFloat16 : ScalarType.Float16;
    static Tensor Chwn(Tensor nchw, long padded) => nn.functional.pad(nchw.permute(1, 2, 3, 0), new long[] { 0, padded - nchw.shape[0] }).contiguous();

    [TestCase(false, 3, 5, 7, 6)]
    [TestCase(true, 1, 3, 4, 4)]
    [TestCase(false, 33, 2, 9, 5)]     // more than one 32-image tile of the batch, F not a multiple of 32
    public void InputTransposeWritesTheImagesInCHWNAndLeavesThePaddingZero(bool bf16, int batch, int c, int h, int w)
    {
        long padded = (batch + 7) / 8 * 8;
        var x = randn(new long[] { batch, c, h, w }, generator: new Generator(1)).to(Type(bf16));
        var graph = new PlanGraph(new[] { x.shape, new long[] { c, h, w, padded } }, Array.Empty<PlanStep>(), 1, batch, padded);
        var y = Launch(new ToChwnStep(0, 1), graph, new() { [0] = x, [1] = zeros(graph.Shapes[1], dtype: x.dtype) }, bf16);
        Assert.That(KernelTestSupport.Same(y, Chwn(x, padded)));
    }

    [TestCase(false, 3, 2, 1, false, 12, 12)]  // ResNet's stem pool
    [TestCase(true, 3, 2, 1, false, 7, 9)]
    [TestCase(false, 2, 2, 0, true, 7, 7)]     // the CIFAR VGG's ceil-mode pools on odd sizes
    [TestCase(false, 2, 2, 0, false, 8, 6)]
    public void MaxPoolIsMaxPool2d(bool bf16, int k, int s, int p, bool ceil, int h, int w)
    {
        const int batch = 5, c = 6, padded = 8;
        var x = randn(new long[] { batch, c, h, w }, generator: new Generator(2)).to(Type(bf16));
        long oh = PlanBuilder.PoolSize(h, k, s, p, ceil), ow = PlanBuilder.PoolSize(w, k, s, p, ceil);
        var graph = new PlanGraph(new[] { x.shape, new long[] { c, h, w, padded }, new long[] { c, oh, ow, padded } }, Array.Empty<PlanStep>(), 2, batch, padded);
        var y = Launch(new MaxPoolStep(1, k, s, p, ceil, 2), graph, new() { [1] = Chwn(x, padded), [2] = zeros(graph.Shapes[2], dtype: x.dtype) }, bf16);
        var expected = nn.functional.max_pool2d(x.to(ScalarType.Float32), k, s, p, ceil_mode: ceil).to(x.dtype);
        Assert.That(KernelTestSupport.Same(y.narrow(3, 0, batch), expected.permute(1, 2, 3, 0).contiguous()), "max is exact in any precision");
    }

    [Test]
    public void MaxPoolPropagatesNaNAsPyTorchDoes()
    {
        const int padded = 8;
        var x = randn(new long[] { 8, 2, 4, 4 }, generator: new Generator(3)).to(ScalarType.Float16);
        x[3, 1, 2, 2] = tensor(float.NaN).to(ScalarType.Float16);
        var graph = new PlanGraph(new[] { x.shape, new long[] { 2, 4, 4, padded }, new long[] { 2, 2, 2, padded } }, Array.Empty<PlanStep>(), 2, 8, padded);
        var y = Launch(new MaxPoolStep(1, 2, 2, 0, false, 2), graph, new() { [1] = Chwn(x, padded), [2] = zeros(graph.Shapes[2], dtype: x.dtype) }, false);
        var nan = y.isnan();
        Assert.That(nan[1, 1, 1, 3].item<bool>() && nan.sum().item<long>() == 1, "the window holding the NaN, and only it");
    }

    [TestCase(false, 7, 7)]
    [TestCase(true, 4, 4)]
    [TestCase(false, 1, 1)]
    public void GlobalAveragePoolIsTheMeanOverThePixels(bool bf16, int h, int w)
    {
        const int batch = 3, c = 5, padded = 8;
        var x = randn(new long[] { batch, c, h, w }, generator: new Generator(4)).to(Type(bf16));
        var graph = new PlanGraph(new[] { x.shape, new long[] { c, h, w, padded }, new long[] { c, 1, 1, padded } }, Array.Empty<PlanStep>(), 2, batch, padded);
        var y = Launch(new AvgPoolStep(1, 2), graph, new() { [1] = Chwn(x, padded), [2] = zeros(graph.Shapes[2], dtype: x.dtype) }, bf16);
        var expected = x.to(ScalarType.Float32).mean(new long[] { 2, 3 }).t();                 // [C x B], summed in fp32
        var got = y.view(c, padded).narrow(1, 0, batch).to(ScalarType.Float32);
        Assert.That((got - expected).abs().max().item<float>(), Is.LessThanOrEqualTo(bf16 ? 2e-2f : 2e-3f), "one rounding of an fp32 mean");
        Assert.That(y.view(c, padded).narrow(1, batch, padded - batch).to(ScalarType.Float32).abs().max().item<float>(), Is.Zero, "padding columns stay zero");
    }

    [TestCase(false, 16, 32, 2, 8, 8)]
    [TestCase(true, 16, 32, 2, 7, 7)]          // odd sizes: ceil(H / 2) rows
    [TestCase(false, 8, 8, 1, 4, 4)]
    public void OptionAShortcutIsCifarBasicBlocksShortcut(bool bf16, int cin, int cout, int stride, int h, int w)
    {
        const int batch = 4, padded = 8;
        var x = randn(new long[] { batch, cin, h, w }, generator: new Generator(5)).to(Type(bf16));
        long oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
        var graph = new PlanGraph(new[] { x.shape, new long[] { cin, h, w, padded }, new long[] { cout, oh, ow, padded } }, Array.Empty<PlanStep>(), 2, batch, padded);
        var y = Launch(new ShortcutAStep(1, stride, cout - cin, 2), graph, new() { [1] = Chwn(x, padded), [2] = zeros(graph.Shapes[2], dtype: x.dtype) }, bf16);
        var block = new Bcbp.Models.ResNet.CifarBasicBlock(cin, cout, stride);
        var expected = block.Shortcut(x);
        Assert.That(KernelTestSupport.Same(y.narrow(3, 0, batch), expected.permute(1, 2, 3, 0).contiguous()));
    }
}
