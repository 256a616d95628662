using System.IO.Compression;
using System.Text;
using Bcbp.Models.IO;
using Bcbp.Tests.Support;
using Bcbp.Tests.Fitting;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Tests.Fuzz;

/// <summary>
/// Thousands of seeded mutations of valid files through every reader (.pt zip + pickle, safetensors, our checkpoint,
/// IDX, CIFAR): each is loaded or refused with a one-line <see cref="InvalidDataException"/> (a
/// <see cref="CheckpointException"/> for checkpoints), never another exception or
/// a crash, and the weight readers stay within their <see cref="ReadBudget"/> (the tensors they return are all charged).
/// </summary>
public class ReaderFuzzTests : TempDirectoryTest
{
    const int Mutations = 1500;

    /// <summary>Per-reader tallies, printed so the CI log shows how many mutations loaded and how many were refused.</summary>
    sealed class Tally(string reader)
    {
        public int Loaded, Refused;
        public void Report() => TestContext.Out.WriteLine($"fuzz {reader}: {Loaded + Refused} mutations, {Loaded} loaded, {Refused} refused");
    }

    /// <summary>Runs <paramref name="read"/> on each mutation; anything but success or a one-line InvalidDataException fails the test.</summary>
    static Tally Fuzz(string reader, byte[] valid, int mutations, Action<byte[], int> read) => Fuzz<InvalidDataException>(reader, valid, mutations, read);

    static Tally Fuzz<TRefusal>(string reader, byte[] valid, int mutations, Action<byte[], int> read) where TRefusal : Exception
    {
        var tally = new Tally(reader);
        for (int seed = 0; seed < mutations; seed++)
        {
            var bytes = Mutator.Mutate(valid, seed);
            try
            {
                read(bytes, seed);
                tally.Loaded++;
            }
            catch (TRefusal e)
            {
                Assert.That(e.Message, Does.Not.Contain("\n"), $"{reader} seed {seed}: the error is one line: {e.Message}");
                tally.Refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{reader} seed {seed}: {e.GetType().Name} instead of {typeof(TRefusal).Name}: {e.Message}");
            }
        }
        tally.Report();
        Assert.That(tally.Refused, Is.GreaterThan(mutations / 10), $"{reader}: the mutations reach the checks");
        return tally;
    }

    static Dictionary<string, Tensor> SmallStateDict()
    {
        torch.manual_seed(0);
        return new Dictionary<string, Tensor>
        {
            ["conv.weight"] = randn(4, 1, 3, 3), ["conv.bias"] = randn(4), ["bn.num_batches_tracked"] = tensor(7L),
            ["fc.weight"] = randn(3, 4).to(ScalarType.Float16), ["mask"] = ones(2, 2, dtype: ScalarType.Bool),
        };
    }

    /// <summary>The weight reader on <paramref name="bytes"/>, asserting the budget holds every tensor it returns.</summary>
    void ReadWeights(byte[] bytes, string file)
    {
        var path = Path.Combine(Dir, file);
        File.WriteAllBytes(path, bytes);
        var budget = ReadBudget.ForFile(bytes.Length);
        var sd = StateDictIO.Read(path, new WeightReadOptions { Budget = budget });
        long held = sd.Values.Sum(t => t.numel() * TorchDTypes.ElementSize(t.dtype));
        foreach (var t in sd.Values) t.Dispose();
        Assert.That(budget.Charged, Is.LessThanOrEqualTo(budget.Limit));
        Assert.That(held, Is.LessThanOrEqualTo(budget.Charged), $"{file}: every returned byte was charged");
    }

    [Test]
    public void TorchZipFileMutations()
    {
        using var ms = new MemoryStream();
        TorchCheckpointWriter.Write(ms, SmallStateDict());
        Fuzz("pt-file", ms.ToArray(), Mutations, (b, _) => ReadWeights(b, "m.pt"));
    }

    [Test]
    public void TorchPickleMutations()
    {
        // Mutating the pickle inside an intact zip reaches the unpickler and the tensor checks, past the zip's CRCs.
        using var ms = new MemoryStream();
        TorchCheckpointWriter.Write(ms, SmallStateDict());
        ms.Position = 0;
        byte[] pickle;
        List<(string Name, byte[] Data)> records;
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Read, leaveOpen: true))
        {
            byte[] Bytes(ZipArchiveEntry e) { using var s = e.Open(); using var m = new MemoryStream(); s.CopyTo(m); return m.ToArray(); }
            pickle = Bytes(zip.Entries.Single(e => e.FullName.EndsWith("data.pkl")));
            records = zip.Entries.Where(e => !e.FullName.EndsWith("data.pkl")).Select(e => (e.FullName, Bytes(e))).ToList();
        }
        Fuzz("pt-pickle", pickle, Mutations, (p, _) =>
        {
            using var zipped = new MemoryStream();
            using (var zip = new ZipArchive(zipped, ZipArchiveMode.Create, leaveOpen: true))
                foreach (var (name, data) in records.Prepend(("archive/data.pkl", p)))
                {
                    using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                    s.Write(data);
                }
            ReadWeights(zipped.ToArray(), "p.pt");
        });
    }

    [Test]
    public void SafeTensorsMutations()
    {
        using var ms = new MemoryStream();
        SafeTensors.Write(ms, SmallStateDict());
        Fuzz("safetensors", ms.ToArray(), Mutations, (b, _) => ReadWeights(b, "m.safetensors"));
    }

    [Test]
    public void CheckpointMutations()
    {
        var config = new TrainConfig { Optimizer = "sgd", Lr = 0.05, Momentum = 0.9 };
        random.manual_seed(1);
        var model = new TinyNet();
        var trainer = new Trainer(model, config, TrainingPhase.Dense, 1, 2, CPU);
        var data = new InMemorySource(16, seed: 2);
        var fit = trainer.Fit(data, data, new FitOptions { BatchSize = 8 });
        var path = Path.Combine(Dir, "checkpoint.bin");
        Checkpoint.Save(path, fit.State, model, trainer.Optimizer);
        var valid = File.ReadAllBytes(path);
        var target = new TinyNet();
        var targetTrainer = new Trainer(target, config, TrainingPhase.Dense, 1, 2, CPU);
        // Fewer mutations: each builds the model's tensors; the header and the tensor framing are what is fuzzed.
        Fuzz<CheckpointException>("checkpoint", valid, Mutations / 2, (b, _) =>
        {
            File.WriteAllBytes(path, b);
            Checkpoint.ReadState(path);
            Checkpoint.Load(path, target, targetTrainer.Optimizer);
        });
    }

    [Test]
    public void IdxMutations()
    {
        var pixels = Enumerable.Range(0, 5 * 4 * 4).Select(i => (byte)i).ToArray();
        var valid = Bcbp.Tests.Data.DataTestFiles.Idx(new[] { 5, 4, 4 }, pixels);
        Fuzz("idx", valid, Mutations, (b, _) =>
        {
            var a = IdxReader.Parse(b, "images", 3);
            Assert.That(a.Data.LongLength, Is.EqualTo(a.Dimensions.Aggregate(1L, (x, y) => x * y)), "dimensions describe the data");
        });
        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(valid);
        var path = Path.Combine(Dir, "images.gz");
        Fuzz("idx-gz", gz.ToArray(), Mutations / 4, (b, _) => { File.WriteAllBytes(path, b); IdxReader.Read(path, 3); });
    }

    [Test]
    public void CifarMutations()
    {
        var file = Path.Combine(Dir, "test_batch.bin");
        Bcbp.Tests.Data.DataTestFiles.WriteCifar(file, 0, 3, cifar100: false);
        var valid = File.ReadAllBytes(file);
        Fuzz("cifar", valid, Mutations / 2, (b, _) =>
        {
            File.WriteAllBytes(file, b);
            var split = CifarReader.Read(Dir, CifarReader.Cifar10Test, cifar100: false);
            Assert.That(split.Images.Length, Is.EqualTo(split.Count * CifarReader.PixelBytes));
        });
    }
}
