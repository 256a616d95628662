using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.TorchFiles;

/// <summary>Reads the raw little-endian fp32 arrays and shape files the PyTorch scripts write.</summary>
public static class ReferenceData
{
    /// <summary>A fp32 tensor of <paramref name="shape"/> from a raw little-endian file.</summary>
    public static Tensor ReadFloats(string path, long[] shape)
    {
        var bytes = File.ReadAllBytes(path);
        var t = torch.empty(shape, ScalarType.Float32);
        Assert.That(bytes.LongLength, Is.EqualTo(t.numel() * 4), $"{path} size");
        t.bytes = bytes;
        return t;
    }

    /// <summary>Writes a tensor as raw little-endian fp32.</summary>
    public static void WriteFloats(string path, Tensor t)
    {
        using var cpu = t.detach().cpu().to(ScalarType.Float32).contiguous();
        File.WriteAllBytes(path, cpu.bytes.ToArray());
    }

    /// <summary>The input and logits shapes of a parity fixture (<c>ARCH.json</c>).</summary>
    public static (long[] Input, long[] Logits) Shapes(string jsonPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        long[] Read(string key) => doc.RootElement.GetProperty(key).EnumerateArray().Select(e => e.GetInt64()).ToArray();
        return (Read("input_shape"), Read("logits_shape"));
    }

    /// <summary>Same shape and every element equal (TorchSharp's <c>equal</c> is elementwise).</summary>
    public static bool ExactlyEqual(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var eq = a.eq(b);
        using var all = eq.all();
        return all.item<bool>();
    }

    /// <summary>max |a - b| over all elements.</summary>
    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }
}
