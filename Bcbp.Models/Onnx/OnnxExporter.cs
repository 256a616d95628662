using Bcbp.Models.IO;
using Bcbp.Models.Onnx.Proto;
using Google.Protobuf;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.Onnx;

/// <summary>What <see cref="OnnxExporter.Export"/> wrote.</summary>
/// <param name="Path">The .onnx file.</param>
/// <param name="Bytes">Its size.</param>
/// <param name="Nodes">Graph nodes.</param>
/// <param name="Parameters">Weight elements stored (masked zeros included).</param>
/// <param name="ZeroWeights">Of those, zeros (pruned weights kept as zeros).</param>
/// <param name="InputShape">[C, H, W] of one image; the batch dimension is symbolic (<c>batch</c>).</param>
/// <param name="OutputShape">[classes].</param>
/// <param name="Opset">ONNX operator set version.</param>
/// <param name="MaxAbsDiff">Largest |logit| difference between the model's forward and the exporter's op-by-op
/// reading of it on a random batch (the exporter's self-check).</param>
public sealed record OnnxExportInfo(string Path, long Bytes, int Nodes, long Parameters, long ZeroWeights, long[] InputShape,
                                    long[] OutputShape, int Opset, double MaxAbsDiff);

/// <summary>
/// Writes an eval-mode image classifier as an ONNX model (input <c>input</c> [batch, C, H, W], output <c>logits</c>
/// [batch, classes], batch dynamic), module by module, since TorchSharp has no tracer. Modules are read by type and
/// structure, never by class name, so torchvision-layout models from anywhere export:
/// <list type="bullet">
/// <item>layers: Conv2d, BatchNorm2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, Linear (flattening a 4-d input first),
/// Flatten, Dropout and Identity (no-ops in eval);</item>
/// <item>Sequential: its children in order;</item>
/// <item>a residual block (children conv1, bn1, conv2, bn2[, conv3, bn3][, downsample]): torchvision's BasicBlock /
/// Bottleneck with ReLUs after each inner BatchNorm and after the sum; with no downsample and a shape change, the
/// CIFAR "option A" shortcut (stride subsampling, zero channels padded half before and half after);</item>
/// <item>any other module (a network such as ResNet or VGG): its children in registration order, a BatchNorm2d child
/// followed by a ReLU (torchvision's stem).</item>
/// </list>
/// Every composite module's reading is checked on a sample image against the module's own forward, so a module whose
/// forward does something else is refused by name instead of being exported wrongly. Pruned weights (a
/// <c>weight_mask</c> buffer) are written multiplied by their mask: zeros stay zeros.
/// </summary>
public static class OnnxExporter
{
    /// <summary>The operator set the graph uses (BatchNormalization-15, Pad/Slice with tensor inputs).</summary>
    public const int Opset = 17;
    /// <summary>ONNX IR version matching <see cref="Opset"/>.</summary>
    public const int IrVersion = 8;

    private readonly record struct Value(string Name, Tensor Sample);

    /// <summary>Exports <paramref name="model"/> for inputs of shape [batch, <paramref name="inputShape"/>] to
    /// <paramref name="path"/> (atomically). The model is put in eval mode.</summary>
    /// <exception cref="NotSupportedException">A module that cannot be expressed, named with its path and type.</exception>
    public static OnnxExportInfo Export(nn.Module<Tensor, Tensor> model, long[] inputShape, string path, string? docString = null)
    {
        var (proto, info) = Build(model, inputShape, docString);
        AtomicFile.Write(path, stream => proto.WriteTo(stream));
        return info with { Path = System.IO.Path.GetFullPath(path), Bytes = new FileInfo(path).Length };
    }

    /// <summary>The ONNX model of <paramref name="model"/> without writing it (see <see cref="Export"/>).</summary>
    public static (ModelProto Model, OnnxExportInfo Info) Build(nn.Module<Tensor, Tensor> model, long[] inputShape, string? docString = null)
    {
        if (inputShape.Length != 3)
            throw new ArgumentException($"input shape must be [channels, height, width], got [{string.Join(", ", inputShape)}]", nameof(inputShape));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.eval();
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        var sample = randn(new long[] { 2 }.Concat(inputShape).ToArray(), generator: new Generator(7)).to(device);

        var graph = new OnnxGraph();
        graph.Proto.Name = model.GetName();
        graph.Proto.DocString = docString ?? "";
        var output = Emit(graph, model, "", new Value("input", sample));
        var expected = model.call(sample.clone());
        if (output.Sample.dim() != 2)
            throw new NotSupportedException($"the model's output has shape [{string.Join(", ", output.Sample.shape)}]; the exporter writes classifiers ([batch, classes])");
        double diff = (output.Sample - expected).abs().max().item<float>();
        var logits = graph.Node("Identity", "logits", new[] { output.Name });
        graph.Proto.Input.Add(OnnxGraph.Float32Value("input", new long?[] { null }.Concat(inputShape.Select(d => (long?)d))));
        graph.Proto.Output.Add(OnnxGraph.Float32Value(logits, new long?[] { null, output.Sample.shape[1] }));

        var proto = new ModelProto
        {
            IrVersion = IrVersion, ProducerName = "bcbp", ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            DocString = docString ?? "", Graph = graph.Proto,
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        var floats = graph.Proto.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float).ToList();
        long zeros = floats.Sum(t => (long)System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).Count(0f));
        var info = new OnnxExportInfo("", proto.CalculateSize(), graph.Proto.Node.Count, floats.Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b)),
                                      zeros, inputShape.ToArray(), new[] { output.Sample.shape[1] }, Opset, diff);
        return (proto, info);
    }

    private static Value Emit(OnnxGraph g, nn.Module module, string path, Value x)
    {
        string name = path.Length == 0 ? module.GetName() : path;
        Value Out(string node, Tensor sample) => new(node, sample);
        switch (module)
        {
            case Conv2d conv: return Out(Conv(g, conv, name, x.Name), conv.call(x.Sample));
            case BatchNorm2d bn: return Out(BatchNorm(g, bn, name, x.Name), bn.call(x.Sample));
            case ReLU: return Out(g.Node("Relu", name, new[] { x.Name }), x.Sample.relu());
            case MaxPool2d pool: return Out(MaxPool(g, pool, name, x.Name), pool.call(x.Sample));
            case AdaptiveAvgPool2d pool: return Out(AdaptiveAvgPool(g, pool, name, x), pool.call(x.Sample));
            case Linear linear:
            {
                if (x.Sample.dim() > 2) x = Flatten(g, name + ".flatten", x, 1);
                return Out(Gemm(g, linear, name, x.Name), linear.call(x.Sample));
            }
            case Flatten flatten:
                if (flatten.end_dim != -1) throw Unsupported(name, module, $"Flatten with end_dim {flatten.end_dim} (only -1 exports)");
                return Flatten(g, name, x, flatten.start_dim);
            case Dropout or Identity:
                return x;
            case Sequential seq:
                foreach (var (child, m) in seq.named_children()) x = Emit(g, m, Join(path, child), x);
                return x;
        }
        var children = module.named_children().ToList();
        if (children.Count == 0) throw Unsupported(name, module, "a layer type the ONNX exporter does not know");
        var byName = children.ToDictionary(c => c.name, c => c.module);
        var result = new[] { "conv1", "bn1", "conv2", "bn2" }.All(byName.ContainsKey)
            ? ResidualBlock(g, byName, path, x)
            : Network(g, children, path, x);
        Check(module, name, x, result);
        return result;
    }

    /// <summary>torchvision's BasicBlock / Bottleneck, or the CIFAR block with the option-A shortcut.</summary>
    private static Value ResidualBlock(OnnxGraph g, Dictionary<string, nn.Module> m, string path, Value x)
    {
        Value Layer(string child, Value v) => Emit(g, m[child], Join(path, child), v);
        Value Relu(string at, Value v) => new(g.Node("Relu", Join(path, at), new[] { v.Name }), v.Sample.relu());
        var y = Relu("relu1", Layer("bn1", Layer("conv1", x)));
        y = Layer("bn2", Layer("conv2", y));
        if (m.ContainsKey("conv3")) y = Layer("bn3", Layer("conv3", Relu("relu2", y)));
        Value shortcut = m.TryGetValue("downsample", out var ds) && ds is not null
            ? Emit(g, ds, Join(path, "downsample"), x)
            : OptionAShortcut(g, Join(path, "shortcut"), x, y.Sample.shape, (m["conv1"] as Conv2d)?.stride ?? new long[] { 1, 1 });
        var sum = new Value(g.Node("Add", Join(path, "add"), new[] { y.Name, shortcut.Name }), y.Sample + shortcut.Sample);
        return Relu("relu", sum);
    }

    /// <summary>Identity when the shapes agree; else subsample by the stride and zero-pad the new channels.</summary>
    private static Value OptionAShortcut(OnnxGraph g, string name, Value x, long[] target, long[] stride)
    {
        if (x.Sample.shape.SequenceEqual(target)) return x;
        var v = x;
        if (stride.Any(s => s != 1))
        {
            var slice = g.Node("Slice", name + ".subsample", new[]
            {
                v.Name, g.Int64s(name + ".starts", 0, 0), g.Int64s(name + ".ends", long.MaxValue, long.MaxValue),
                g.Int64s(name + ".axes", 2, 3), g.Int64s(name + ".steps", stride[0], stride[1]),
            });
            v = new(slice, v.Sample[.., .., TensorIndex.Slice(null, null, stride[0]), TensorIndex.Slice(null, null, stride[1])]);
        }
        long extra = target[1] - v.Sample.shape[1];
        if (extra != 0)
        {
            if (extra < 0 || extra % 2 != 0 || !v.Sample.shape.Skip(2).SequenceEqual(target.Skip(2)))
                throw new NotSupportedException($"{name}: a block without downsample maps [{string.Join(", ", x.Sample.shape)}] to [{string.Join(", ", target)}], " +
                                                "which no parameter-free shortcut (identity or option A) does");
            long half = extra / 2;
            var pad = g.Node("Pad", name + ".pad", new[] { v.Name, g.Int64s(name + ".pads", 0, half, 0, 0, 0, half, 0, 0) });
            v = new(pad, nn.functional.pad(v.Sample, new long[] { 0, 0, 0, 0, half, half }));
        }
        return v;
    }

    /// <summary>A network's children in order; a BatchNorm2d child is followed by ReLU (the stem of torchvision's ResNet).</summary>
    private static Value Network(OnnxGraph g, List<(string name, nn.Module module)> children, string path, Value x)
    {
        for (int i = 0; i < children.Count; i++)
        {
            var (child, m) = children[i];
            x = Emit(g, m, Join(path, child), x);
            bool reluNext = i + 1 < children.Count && children[i + 1].module is ReLU;
            if (m is BatchNorm2d && !reluNext) x = new(g.Node("Relu", Join(path, child) + ".relu", new[] { x.Name }), x.Sample.relu());
        }
        return x;
    }

    private static string Conv(OnnxGraph g, Conv2d conv, string name, string input)
    {
        if (conv.padding is null || conv.padding_mode != PaddingModes.Zeros)
            throw new NotSupportedException($"{name}: Conv2d with padding mode {conv.padding_mode}/{conv.padding_type} does not export; give the padding in pixels with zero padding");
        var inputs = new List<string> { input, g.Weight(name + ".weight", Effective(conv, conv.weight!)) };
        if (conv.bias is not null) inputs.Add(g.Weight(name + ".bias", conv.bias));
        var p = conv.padding;
        return g.Node("Conv", name, inputs,
            OnnxGraph.Ints("kernel_shape", conv.kernel_size), OnnxGraph.Ints("strides", conv.stride),
            OnnxGraph.Ints("pads", new[] { p[0], p[1], p[0], p[1] }), OnnxGraph.Ints("dilations", conv.dilation),
            OnnxGraph.Int("group", conv.groups));
    }

    private static string BatchNorm(OnnxGraph g, BatchNorm2d bn, string name, string input)
    {
        if (bn.running_mean is null || bn.running_var is null)
            throw new NotSupportedException($"{name}: BatchNorm2d without running statistics (track_running_stats false) normalizes with batch statistics in eval; it does not export");
        long c = bn.num_features;
        var scale = bn.weight is { } w ? (Tensor)w : ones(c);
        var shift = bn.bias is { } b ? (Tensor)b : zeros(c);
        return g.Node("BatchNormalization", name, new[]
        {
            input, g.Weight(name + ".weight", scale), g.Weight(name + ".bias", shift),
            g.Weight(name + ".running_mean", bn.running_mean), g.Weight(name + ".running_var", bn.running_var),
        }, OnnxGraph.Float("epsilon", (float)bn.eps));
    }

    private static string MaxPool(OnnxGraph g, MaxPool2d pool, string name, string input)
    {
        var p = pool.padding ?? new long[] { 0, 0 };
        return g.Node("MaxPool", name, new[] { input },
            OnnxGraph.Ints("kernel_shape", pool.kernel_size), OnnxGraph.Ints("strides", pool.stride ?? pool.kernel_size),
            OnnxGraph.Ints("pads", new[] { p[0], p[1], p[0], p[1] }), OnnxGraph.Ints("dilations", pool.dilation ?? new long[] { 1, 1 }),
            OnnxGraph.Int("ceil_mode", pool.ceil_mode ? 1 : 0));
    }

    /// <summary>
    /// GlobalAveragePool for a 1x1 output; otherwise the exact adaptive average as two matrix products
    /// (A_h · X · A_wᵀ, each row of A averaging PyTorch's window floor(i·n/o) .. ceil((i+1)·n/o)), which also covers
    /// outputs larger than the input (VGG's 7x7 head on small images).
    /// </summary>
    private static string AdaptiveAvgPool(OnnxGraph g, AdaptiveAvgPool2d pool, string name, Value x)
    {
        var size = pool.output_size;
        if (size.All(s => s == 1)) return g.Node("GlobalAveragePool", name, new[] { x.Name });
        long h = x.Sample.shape[2], w = x.Sample.shape[3];
        var aw = g.Weight(name + ".avg_w", AveragingMatrix(size[1], w).t());
        var ah = g.Weight(name + ".avg_h", AveragingMatrix(size[0], h));
        var cols = g.Node("MatMul", name + ".cols", new[] { x.Name, aw });
        return g.Node("MatMul", name, new[] { ah, cols });
    }

    private static Tensor AveragingMatrix(long outSize, long inSize)
    {
        var a = zeros(outSize, inSize);
        for (long i = 0; i < outSize; i++)
        {
            long start = i * inSize / outSize, end = ((i + 1) * inSize + outSize - 1) / outSize;
            a[i, TensorIndex.Slice(start, end)] = tensor(1f / (end - start));
        }
        return a;
    }

    private static string Gemm(OnnxGraph g, Linear linear, string name, string input)
    {
        var inputs = new List<string> { input, g.Weight(name + ".weight", Effective(linear, linear.weight!)) };
        if (linear.bias is not null) inputs.Add(g.Weight(name + ".bias", linear.bias));
        return g.Node("Gemm", name, inputs, OnnxGraph.Int("transB", 1));
    }

    private static Value Flatten(OnnxGraph g, string name, Value x, long axis)
        => new(g.Node("Flatten", name, new[] { x.Name }, OnnxGraph.Int("axis", axis)), x.Sample.flatten(axis));

    /// <summary>A pruned layer's weight as the pruned model computes with it: multiplied by its mask.</summary>
    private static Tensor Effective(nn.Module layer, Tensor weight)
    {
        var mask = WeightMask.Of(layer);
        return mask is null ? weight : weight * mask;
    }

    /// <summary>Refuses a composite module whose forward computes something other than the exporter's reading of it.</summary>
    private static void Check(nn.Module module, string name, Value input, Value output)
    {
        if (module is not nn.Module<Tensor, Tensor> forward) throw Unsupported(name, module, "not a Module<Tensor, Tensor>");
        var expected = forward.call(input.Sample.clone());
        double tolerance = 1e-4 * Math.Max(1.0, expected.abs().max().item<float>());
        if (!expected.shape.SequenceEqual(output.Sample.shape) || (expected - output.Sample).abs().max().item<float>() > tolerance)
            throw Unsupported(name, module, "its forward differs from the exporter's reading of its children " +
                                            "(a residual block, or children applied in order with ReLU after each BatchNorm)");
    }

    private static NotSupportedException Unsupported(string name, nn.Module module, string why)
        => new($"cannot export {name} ({module.GetType().Name}): {why}. Exportable: Conv2d, BatchNorm2d, ReLU, MaxPool2d, " +
               "AdaptiveAvgPool2d, Linear, Flatten, Dropout, Identity, Sequential, torchvision-style residual blocks and networks built of them.");

    private static string Join(string path, string child) => path.Length == 0 ? child : path + "." + child;
}
