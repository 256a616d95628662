using System.Collections;
using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Tests.Support;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Bcbp.Tests.TorchFiles;

/// <summary>
/// TorchSharp.PyBridge and Bcbp.Models.IO read each other's files with equal tensors (both ways, .pt and
/// .safetensors, a pruned model with masks and BN buffers, every dtype we write), and what PyBridge's readers do with
/// our hostile files (docs/interop.md has the table).
/// </summary>
public class PyBridgeInteropTests : TempDirectoryTest
{
    /// <summary>A CIFAR ResNet-20 with random BN statistics and a 0/1 mask on every conv, as pruning leaves it.</summary>
    static nn.Module<Tensor, Tensor> PrunedModel()
    {
        var model = ModelFactory.Create("resnet20", 10, 3);
        MaskingHelpers.PruneHalfOfEveryConv(model);
        using var noGrad = torch.no_grad();
        foreach (var (name, buffer) in model.named_buffers())
            if (name.EndsWith("running_mean") || name.EndsWith("running_var")) buffer.uniform_(0.5, 1.5);
            else if (name.EndsWith("num_batches_tracked")) buffer.fill_(7);
        return model;
    }

    /// <summary>Tensors of every dtype Bcbp writes, including 0-d, empty and non-contiguous ones.</summary>
    static Dictionary<string, Tensor> MixedTensors() => new()
    {
        ["f32"] = torch.randn(3, 4),
        ["f64"] = torch.randn(5, dtype: ScalarType.Float64),
        ["f16"] = torch.randn(2, 3).to(ScalarType.Float16),
        ["bf16"] = torch.randn(2, 3).to(ScalarType.BFloat16),
        ["i64"] = torch.arange(6, dtype: ScalarType.Int64).reshape(2, 3),
        ["i32"] = torch.tensor(new[] { -1, 2, 3 }),
        ["u8"] = torch.tensor(new byte[] { 0, 255 }),
        ["bool"] = torch.tensor(new[] { true, false, true }),
        ["scalar"] = torch.tensor(2.5f),
        ["empty"] = torch.zeros(0, 4),
        ["transposed"] = torch.randn(4, 3).t(),
    };

    static void AssertSameTensors(IDictionary<string, Tensor> expected, IDictionary<string, Tensor> actual)
    {
        Assert.That(actual.Keys, Is.EquivalentTo(expected.Keys));
        foreach (var (key, e) in expected)
        {
            var a = actual[key];
            Assert.That(a.dtype, Is.EqualTo(e.dtype), key);
            Assert.That(ReferenceData.ExactlyEqual(a.cpu(), e.cpu()), Is.True, key);
        }
    }

    static Dictionary<string, Tensor> ToDictionary(Hashtable table)
        => table.Keys.Cast<string>().ToDictionary(k => k, k => (Tensor)table[k]!);

    [Test]
    public void PyBridgeSavePyLoadsInBcbpWithEqualTensors()
    {
        using var model = PrunedModel();
        var pt = Path.Combine(Dir, "pybridge.pt");
        var st = Path.Combine(Dir, "pybridge.safetensors");
        model.save_py(pt);
        model.save_safetensors(st);
        foreach (var path in new[] { pt, st })
        {
            using var loaded = ModelFactory.Create("resnet20", 10, 3);
            var result = StateDictIO.Load(loaded, path, strict: true, loadMasks: true);
            Assert.That(result.RegisteredMasks, Has.Count.EqualTo(19), path);
            AssertSameTensors(model.state_dict(), loaded.state_dict());
        }
    }

    [Test]
    public void BcbpPtFilesLoadWithPyBridgeLoadPyWithEqualTensors()
    {
        using var model = PrunedModel();
        var pt = Path.Combine(Dir, "bcbp.pt");
        StateDictIO.Save(model, pt);
        // load_py fills an existing module: give the fresh one its mask buffers first, as our loader's loadMasks does.
        using var loaded = ModelFactory.Create("resnet20", 10, 3);
        foreach (var (name, module) in loaded.named_modules())
            if (module is TorchSharp.Modules.Conv2d conv) conv.register_buffer("weight_mask", torch.zeros_like(conv.weight));
        loaded.load_py(pt, strict: true);
        AssertSameTensors(model.state_dict(), loaded.state_dict());

        var st = Path.Combine(Dir, "bcbp.safetensors");
        StateDictIO.Save(model, st);
        AssertSameTensors(model.state_dict(), Safetensors.LoadStateDict(st));
    }

    [Test]
    public void EveryDTypeRoundTripsBothWays()
    {
        var tensors = MixedTensors();
        var ours = Path.Combine(Dir, "ours.pt");
        StateDictIO.Write(ours, tensors);
        AssertSameTensors(tensors, ToDictionary(PyTorchUnpickler.UnpickleStateDict(ours)));

        // PyBridge's pickler writes a tensor's bytes as laid out in memory, so it refuses non-contiguous ones.
        foreach (var key in tensors.Keys.ToList()) tensors[key] = tensors[key].contiguous();
        var theirs = Path.Combine(Dir, "theirs.pt");
        PyTorchPickler.PickleStateDict(theirs, tensors);
        AssertSameTensors(tensors, StateDictIO.Read(theirs));
    }

    /// <summary>PyBridge's raw readers: its unpickler for .pt (what load_py runs), its safetensors reader otherwise.</summary>
    static int PyBridgeRead(string path) => path.EndsWith(".safetensors")
        ? Safetensors.LoadStateDict(path).Count
        : PyTorchUnpickler.UnpickleStateDict(path).Count;

    [TestCaseSource(typeof(HostileFiles), nameof(HostileFiles.Names))]
    public void HostileFileThroughPyBridge(string name)
    {
        var path = HostileFiles.All[name](Dir);
        string outcome;
        try { outcome = $"accepted: {PyBridgeRead(path)} tensors"; }
        catch (Exception e) { outcome = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}"; }
        TestContext.Out.WriteLine($"{name}: {outcome}");
        Assert.That(File.Exists(HostileFiles.Marker(Dir)), Is.False, "PyBridge ran code from the file");
        Assert.That(outcome, Does.StartWith(PyBridgeOutcomes[name]));
    }

    /// <summary>A module whose state dict is one parameter "w", the tensor the crafted files declare.</summary>
    sealed class OneTensor : nn.Module
    {
        public OneTensor(long[] shape) : base(nameof(OneTensor)) => register_parameter("w", new TorchSharp.Modules.Parameter(torch.zeros(shape)));
    }

    /// <summary>
    /// The files whose pickle is well formed but whose tensor data is wrong, through <c>load_py</c> itself: it unpickles
    /// with deferred tensor reads and then reads into the module's own tensors, a different path for the data.
    /// </summary>
    [TestCase("storage_smaller_than_declared", new long[] { 100 }, "EndOfStreamException")]
    [TestCase("view_past_its_storage", new long[] { 3, 3 }, "ExternalException: setStorage")]
    [TestCase("missing_storage_record", new long[] { 2 }, "InvalidOperationException: Sequence contains no matching element")]
    [TestCase("unsupported_dtype", new long[] { 1 }, "accepted")]
    public void HostileTensorDataThroughLoadPy(string name, long[] shape, string expected)
    {
        var path = HostileFiles.All[name](Dir);
        using var module = new OneTensor(shape);
        string outcome;
        try { module.load_py(path); outcome = "accepted"; }
        catch (Exception e) { outcome = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}"; }
        TestContext.Out.WriteLine($"load_py {name}: {outcome}");
        Assert.That(outcome, Does.StartWith(expected));
    }

    /// <summary>What PyBridge 1.4.4 does with each hostile file (the docs/interop.md table).</summary>
    static readonly Dictionary<string, string> PyBridgeOutcomes = new()
    {
        ["torch_save_os_system"] = "PickleException: expected zero arguments for construction of ClassDict (for posix.system)",
        ["crafted_os_system"] = "PickleException: expected zero arguments for construction of ClassDict (for os.system)",
        ["opcode_NEWOBJ"] = "InvalidCastException",
        ["opcode_INST"] = "IOException: premature end of input stream",
        ["opcode_EXT1"] = "PickleException: Unimplemented opcode EXT1",
        ["deeply_nested_persistent_id"] = "InvalidCastException",
        ["storage_smaller_than_declared"] = "EndOfStreamException",
        ["view_past_its_storage"] = "ExternalException: setStorage: sizes [3, 3], strides [3, 1], storage offset 4",
        ["missing_storage_record"] = "InvalidOperationException: Sequence contains no matching element",
        ["unsupported_dtype"] = "accepted: 1 tensors",
        ["wrong_magic"] = "NotImplementedException: The model being loaded was saved using the old PyTorch format",
        ["legacy_non_zip"] = "NotImplementedException: The model being loaded was saved using the old PyTorch format",
        ["truncated_zip"] = "InvalidDataException: End of Central Directory record could not be found",
        ["pickle_without_stop"] = "IOException: premature end of input stream",
        ["zip_without_pickle"] = "InvalidOperationException: Sequence contains no matching element",
        ["safetensors_huge_header"] = "ArgumentOutOfRangeException: Length of JSON exceeded int.MaxValue",
        ["safetensors_bad_dtype"] = "NotImplementedException: Unrecognized data type listed: F8_E4M3",
        ["safetensors_offsets_outside_data"] = "EndOfStreamException",
        ["safetensors_bytes_short_of_shape"] = "NotImplementedException: Error when loading tensor w - mismatched # of elements",
        ["safetensors_entry_without_offsets"] = "NullReferenceException",
        ["safetensors_header_not_json"] = "JsonException",
    };
}
