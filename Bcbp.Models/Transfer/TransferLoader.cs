using Bcbp.Models.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Models.Transfer;

/// <summary>How <see cref="TransferLoader"/> treats a checkpoint made for another task.</summary>
/// <param name="Strict">Refuse any missing, unexpected or mis-shaped key (after the head and stem rules); false: load
/// the matching keys and report the rest, as PyTorch's <c>load_state_dict(strict=False)</c>.</param>
/// <param name="ResetHead">Leave the classifier (the model's last Linear) at its fresh initialisation and ignore the
/// checkpoint's, whatever its class count.</param>
public sealed record TransferOptions(bool Strict = true, bool ResetHead = false);

/// <summary>What a transfer load did.</summary>
/// <param name="Load">The state-dict comparison (loaded, missing, unexpected, mis-shaped keys).</param>
/// <param name="ResetHead">The classifier left at fresh initialisation (module name), or null.</param>
/// <param name="IgnoredHeadKeys">The checkpoint's classifier entries that were not loaded, with their shapes.</param>
/// <param name="AdaptedStem">The first conv's weight adapted to another input-channel count, as "name: 3 -> 1 input
/// channels (...)", or null.</param>
public sealed record TransferReport(StateDictLoadResult Load, string? ResetHead, IReadOnlyList<string> IgnoredHeadKeys, string? AdaptedStem)
{
    /// <summary>One line per thing done or skipped.</summary>
    public string Describe()
    {
        var lines = new List<string> { Load.Describe() };
        if (ResetHead is not null)
            lines.Add($"head {ResetHead} reset (fresh initialisation){(IgnoredHeadKeys.Count > 0 ? $"; not loaded from the checkpoint: {string.Join(", ", IgnoredHeadKeys)}" : "")}");
        if (AdaptedStem is not null) lines.Add($"adapted {AdaptedStem}");
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>
/// Loads a checkpoint of another task into a model: torchvision ImageNet weights into a model with another class count
/// (<see cref="TransferOptions.ResetHead"/>) or input-channel count, where the first conv's RGB filters are adapted by
/// timm's rule (<c>adapt_input_conv</c>): summed for one channel; for C channels repeated ceil(C/3) times, cut to C and
/// scaled by 3/C (a grey image then gives the RGB filters' response exactly for one channel or a multiple of 3). Remaining differences are refused when
/// <see cref="TransferOptions.Strict"/>, else skipped and reported. Nothing is changed when it refuses.
/// </summary>
public static class TransferLoader
{
    /// <summary>Loads <paramref name="path"/> (.pt/.pth/.safetensors) into <paramref name="model"/>.</summary>
    public static TransferReport Load(nn.Module model, string path, TransferOptions options)
    {
        var state = StateDictIO.Read(path);
        try
        {
            StateDictIO.CheckFinite(state, path);
            return Load(model, state, options, path);
        }
        finally { foreach (var t in state.Values) t.Dispose(); }
    }

    /// <summary>Loads <paramref name="source"/> into <paramref name="model"/>; <paramref name="sourceName"/> names it in errors.</summary>
    /// <exception cref="StateDictMismatchException">Strict and keys or shapes still differ.</exception>
    public static TransferReport Load(nn.Module model, IReadOnlyDictionary<string, Tensor> source, TransferOptions options, string sourceName)
    {
        using var scope = NewDisposeScope();
        var modules = model.named_modules().ToList();
        var target = model.state_dict();
        var adjusted = new Dictionary<string, Tensor>(source);

        string? head = null;
        var ignored = new List<string>();
        if (options.ResetHead)
        {
            head = modules.LastOrDefault(m => m.module is Linear).name
                ?? throw new ArgumentException("model.reset_head: the model has no Linear layer to reset");
            foreach (var key in adjusted.Keys.Where(k => k.StartsWith(head + ".", StringComparison.Ordinal)).ToList())
            {
                ignored.Add($"{key} [{string.Join(", ", adjusted[key].shape)}]");
                adjusted.Remove(key);
            }
            // The model's own head values stand in for the checkpoint's, so a strict load checks everything else.
            foreach (var (key, value) in target.Where(kv => kv.Key.StartsWith(head + ".", StringComparison.Ordinal)))
                adjusted[key] = value;
        }

        string? adapted = null;
        var stem = modules.FirstOrDefault(m => m.module is Conv2d).name;
        if (stem is not null && adjusted.TryGetValue(stem + ".weight", out var w) && target.TryGetValue(stem + ".weight", out var mine)
            && w.dim() == 4 && mine.dim() == 4 && w.shape[1] != mine.shape[1]
            && w.shape[0] == mine.shape[0] && w.shape[2] == mine.shape[2] && w.shape[3] == mine.shape[3])
        {
            adjusted[stem + ".weight"] = AdaptInputConv(w, mine.shape[1], out var how);
            adapted = $"{stem}.weight: {w.shape[1]} -> {mine.shape[1]} input channels ({how})";
        }

        var result = StateDictLoader.Load(model, adjusted, options.Strict, loadMasks: false, sourceName);
        return new TransferReport(result, head, ignored, adapted);
    }

    /// <summary>timm's <c>adapt_input_conv</c> for a weight [O, I, kH, kW] going to <paramref name="channels"/> inputs.</summary>
    public static Tensor AdaptInputConv(Tensor weight, long channels, out string how)
    {
        using var _ = no_grad();
        long from = weight.shape[1];
        if (channels == 1)
        {
            how = from == 3 ? "RGB filters summed" : $"the {from} input filters summed";
            return weight.sum(1, keepdim: true);
        }
        long repeat = (channels + from - 1) / from;
        how = $"filters repeated {repeat}x, cut to {channels} and scaled by {from}/{channels}";
        return weight.repeat(1, repeat, 1, 1).narrow(1, 0, channels).mul((double)from / channels);
    }
}
