using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Models;

/// <summary>
/// The mask contract every part of Bcbp shares (torch.nn.utils.prune's naming): a pruned Conv2d or Linear carries a
/// 0/1 buffer <c>weight_mask</c> of its weight's shape, so state dicts hold <c>{layer}.weight_mask</c> beside
/// <c>{layer}.weight</c>, and a kept weight is one whose mask is 1.
/// </summary>
public static class WeightMask
{
    /// <summary>The buffer's name on its module.</summary>
    public const string BufferName = "weight_mask";

    /// <summary>The mask buffer registered directly on <paramref name="module"/>, or null; on the weight's device.
    /// TorchSharp's Conv2d and Linear move only their weight and bias in <c>to(device)</c>, so a moved module's mask
    /// stays behind: the first read after a move moves it, in the module's buffer slot (the state dict sees the moved
    /// one, and in-place updates reach it).</summary>
    public static Tensor? Of(nn.Module module)
    {
        var mask = module.named_buffers(recurse: false).FirstOrDefault(b => b.name == BufferName).buffer;
        if (mask is null || module.get_parameter("weight") is not { } weight
            || (mask.device_type == weight.device_type && mask.device_index == weight.device_index)) return mask;
        var moved = mask.to(weight.device);
        (ReplaceBuffer ?? throw new NotSupportedException("this TorchSharp version has no Module.ConditionallyRegisterBuffer; moving a mask with its weights needs an update"))
            .Invoke(module, new object?[] { BufferName, moved, true });
        return moved;
    }

    // Module's own way to re-point a registered buffer (its to() uses it); protected, so reached by reflection, as
    // FilterSurgery reaches Conv2d's channel counts.
    static readonly System.Reflection.MethodInfo? ReplaceBuffer = typeof(nn.Module).GetMethod("ConditionallyRegisterBuffer",
        System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic, new[] { typeof(string), typeof(Tensor), typeof(bool) });

    /// <summary>Registers <paramref name="mask"/> as <paramref name="module"/>'s mask buffer.</summary>
    public static void Register(nn.Module module, Tensor mask) => module.register_buffer(BufferName, mask);

    /// <summary>True for a state-dict key of a mask (<c>weight_mask</c> or <c>{layer}.weight_mask</c>).</summary>
    public static bool IsKey(string key) =>
        key == BufferName || key.EndsWith("." + BufferName, StringComparison.Ordinal);

    /// <summary>The module name a mask key belongs to ("" for the root module).</summary>
    public static string LayerOf(string key) => key.Length == BufferName.Length ? "" : key[..^(BufferName.Length + 1)];

    /// <summary>The state-dict key of <paramref name="layer"/>'s mask.</summary>
    public static string KeyOf(string layer) => layer.Length == 0 ? BufferName : layer + "." + BufferName;

    /// <summary>The mask entries of a state dict, by key.</summary>
    public static IReadOnlyDictionary<string, Tensor> In(IReadOnlyDictionary<string, Tensor> state) =>
        state.Where(kv => IsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>The masked modules of <paramref name="model"/> (name, module, mask), in named_modules order.</summary>
    public static IEnumerable<(string Name, nn.Module Module, Tensor Mask)> Masked(nn.Module model) =>
        model.named_modules().Select(m => (m.name, m.module, mask: Of(m.module))).Where(m => m.mask is not null)
            .Select(m => (m.name, m.module, m.mask!));

    /// <summary>weight *= mask for every masked module, in place outside autograd (pruned weights exactly zero);
    /// returns how many modules were masked.</summary>
    public static int ApplyAll(nn.Module model)
    {
        using var _ = no_grad();
        int count = 0;
        foreach (var (name, module, mask) in Masked(model))
        {
            var weight = module.get_parameter("weight")
                ?? throw new InvalidDataException($"'{name}' has a {BufferName} but no weight parameter");
            weight.mul_(mask);
            count++;
        }
        return count;
    }
}
