using Bcbp.Models.IO;
using System.Text;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>
/// One file with everything needed to resume: a header (<see cref="CheckpointState"/> as JSON), the model's state dict
/// (parameters and buffers, weight_mask included) and the optimizer's state (momentum / Adam moments). Written to a
/// temporary file and renamed, so a run killed while writing leaves the previous checkpoint intact.
/// </summary>
public static class Checkpoint
{
    const string Magic = "BCBP-CHECKPOINT-1";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    public static void Save(string path, CheckpointState state, nn.Module model, optim.Optimizer optimizer)
    {
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(Magic);
            writer.Write(JsonSerializer.Serialize(state, Json));
            SaveModel(writer, model);
            AsHelper(optimizer).save_state_dict(writer);
        });
    }

    /// <summary>The state dict in TorchSharp's <c>Module.save</c> format, which writes raw bytes and so refuses a
    /// non-contiguous tensor: channels_last conv weights (NHWC-strided views, <see cref="FlatParameters"/>) are
    /// written through a contiguous copy. <c>Module.load</c> copies into the existing tensors, strides kept.</summary>
    static void SaveModel(BinaryWriter writer, nn.Module model)
    {
        // No dispose scope: state_dict hands out the model's own tensors; only the copies made here are disposed.
        var sd = model.state_dict();
        var copies = new List<Tensor>();
        foreach (var key in sd.Keys.ToList())
            if (!sd[key].is_contiguous()) { sd[key] = sd[key].detach().contiguous(); copies.Add(sd[key]); }
        try { nn.Module.save_state_dict(writer, sd); }
        finally { foreach (var c in copies) c.Dispose(); }
    }

    /// <summary>Reads only the header (to decide which phase to resume).</summary>
    public static CheckpointState ReadState(string path)
    {
        using var reader = Open(path);
        return ReadHeader(reader, path);
    }

    /// <summary>Restores <paramref name="model"/> and <paramref name="optimizer"/> in place; returns the header.
    /// The model must have the same parameters and buffers as the one saved (for a pruned model: its masks exist).</summary>
    /// <exception cref="CheckpointException">Missing, truncated, corrupt, or written for another model.</exception>
    public static CheckpointState Load(string path, nn.Module model, optim.Optimizer optimizer)
    {
        using var reader = Open(path);
        var state = ReadHeader(reader, path);
        try
        {
            model.load(reader, strict: true);
            AsHelper(optimizer).load_state_dict(reader);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException or FormatException
                                      or OverflowException or IndexOutOfRangeException or System.Runtime.InteropServices.ExternalException)
        {
            throw new CheckpointException($"checkpoint '{path}' does not match this model/optimizer or is corrupt ({Printable.Of(e.Message, 200)}); " +
                "it was written by another config or damaged: start without --resume, or point output_dir/name elsewhere.", e);
        }
        return state;
    }

    static BinaryReader Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"no checkpoint at '{path}' to resume from: run without --resume to start fresh.");
        return new BinaryReader(File.OpenRead(path), Encoding.UTF8);
    }

    static CheckpointState ReadHeader(BinaryReader reader, string path)
    {
        string magic;
        try { magic = reader.ReadString(); }
        catch (Exception e) when (e is IOException or FormatException) { magic = ""; }
        if (magic != Magic)
            throw new CheckpointException($"'{path}' is not a Bcbp checkpoint (bad header): delete it or run without --resume.");
        CheckpointState? state;
        try { state = JsonSerializer.Deserialize<CheckpointState>(reader.ReadString(), Json); }
        catch (Exception e) when (e is IOException or FormatException or JsonException or ArgumentException)
        {
            throw new CheckpointException($"checkpoint '{path}' has a truncated or corrupt header ({Printable.Of(e.Message, 200)}): " +
                "delete it to start afresh (or run without --resume).", e);
        }
        if (state is null || !Enum.IsDefined(state.Phase) || state.Epoch < 0 || state.GlobalStep < 0 || state.History is null)
            throw new CheckpointException($"checkpoint '{path}' has an invalid header (phase, epoch or step): delete it to start afresh.");
        return state;
    }

    static OptimizerHelper AsHelper(optim.Optimizer optimizer) => optimizer as OptimizerHelper
        ?? throw new NotSupportedException($"optimizer {optimizer.GetType().Name} cannot save its state.");
}

/// <summary>A checkpoint that cannot be read: truncated, corrupt, or written for another model. An I/O fault of the run
/// (exit code 3), not a bad input: the message names the file and how to start afresh.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : IOException(message, inner);
