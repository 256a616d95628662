using System.Runtime.InteropServices;
using Bcbp.Models.Onnx.Proto;
using Google.Protobuf;
using static TorchSharp.torch;

namespace Bcbp.Models.Onnx;

/// <summary>
/// An ONNX graph being written: nodes in topological order (the order they are added), fp32 and int64
/// initializers, and unique value names. <see cref="OnnxExporter"/> adds one module's nodes at a time.
/// </summary>
public sealed class OnnxGraph
{
    private readonly HashSet<string> names = new(StringComparer.Ordinal);

    /// <summary>The graph as protobuf.</summary>
    public GraphProto Proto { get; } = new();

    /// <summary>Adds an fp32 initializer holding <paramref name="value"/> (copied to the CPU); returns its name.</summary>
    public string Weight(string name, Tensor value)
    {
        using var cpu = value.detach().to(ScalarType.Float32, CPU).contiguous();
        // One copy out of libtorch; the protobuf wraps it (VGG's classifier alone is 400 MB).
        var data = cpu.bytes.ToArray();
        var tensor = new TensorProto
        {
            Name = Unique(name), DataType = (int)TensorProto.Types.DataType.Float, RawData = UnsafeByteOperations.UnsafeWrap(data),
        };
        tensor.Dims.AddRange(cpu.shape);
        Proto.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds an int64 initializer of shape [values.Length] (shapes, pads, slice bounds); returns its name.</summary>
    public string Int64s(string name, params long[] values)
    {
        var tensor = new TensorProto
        {
            Name = Unique(name), DataType = (int)TensorProto.Types.DataType.Int64,
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
        };
        tensor.Dims.Add(values.Length);
        Proto.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Adds a node of <paramref name="op"/> named <paramref name="name"/> (made unique); returns its output's name.</summary>
    public string Node(string op, string name, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = Unique(name) };
        node.Input.AddRange(inputs);
        node.Output.Add(node.Name);
        node.Attribute.AddRange(attributes);
        Proto.Node.Add(node);
        return node.Name;
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value)
        => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value)
        => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>An integer-list attribute.</summary>
    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>A float32 tensor value description; null dimensions are symbolic (<c>batch</c>).</summary>
    public static ValueInfoProto Float32Value(string name, IEnumerable<long?> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is { } v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private string Unique(string name)
    {
        string candidate = name;
        for (int i = 1; !names.Add(candidate); i++) candidate = $"{name}_{i}";
        return candidate;
    }
}
