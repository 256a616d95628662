using Bcbp.Training.Config;
using Bcbp.Training.Data;
using static TorchSharp.torch;

namespace Bcbp.Tests.Data;

/// <summary>MNIST/Fashion-MNIST IDX files (raw and .gz) through <see cref="DatasetFactory"/>, and their errors.</summary>
public class IdxDatasetTests
{
    string _root = "";
    [OneTimeSetUp] public void Init() => Bcbp.Training.Backend.TorchBackend.Initialize("cpu");
    [SetUp] public void SetUp() => _root = DataTestFiles.TempDir();
    [TearDown] public void TearDown() => Directory.Delete(_root, true);

    DataConfig Config(string dataset = "fashion_mnist") => new() { Dataset = dataset, Root = _root };

    [TestCase(true)]
    [TestCase(false)]
    public void ReadsImagesAndLabelsNormalized(bool gzip)
    {
        DataTestFiles.WriteMnistSplit(_root, "train", 30, gzip);
        DataTestFiles.WriteMnistSplit(_root, "t10k", 12, gzip);
        var (train, test) = DatasetFactory.Create(Config(), CPU, seed: 0);
        Assert.That((train.Count, test.Count, train.NumClasses, train.Channels, train.ImageSize), Is.EqualTo((30, 12, 10, 1, (28, 28))));
        var (x, y) = test.Batches(5, shuffle: false, augment: false, epoch: 0).First();
        Assert.That(x.shape, Is.EqualTo(new long[] { 5, 1, 28, 28 }));
        Assert.That(y.data<long>().ToArray(), Is.EqualTo(new long[] { 0, 1, 2, 3, 4 }));
        // Image i is (i*7+3)/255 everywhere except pixel (0,1) = 1, normalized with Fashion-MNIST's mean and std.
        for (int i = 0; i < 5; i++)
        {
            Assert.That(x[i, 0, 5, 5].item<float>(), Is.EqualTo(((i * 7 + 3) / 255.0 - 0.2860) / 0.3530).Within(1e-5));
            Assert.That(x[i, 0, 0, 1].item<float>(), Is.EqualTo((1 - 0.2860) / 0.3530).Within(1e-5));
        }
    }

    [Test]
    public void NumTrainAndImageSizeTakeASubsetAndResize()
    {
        DataTestFiles.WriteMnistSplit(_root, "train", 30, true);
        DataTestFiles.WriteMnistSplit(_root, "t10k", 12, true);
        var c = Config("mnist");
        c.NumTrain = 7; c.ImageSize = 32;
        var (train, test) = DatasetFactory.Create(c, CPU, 0);
        Assert.That((train.Count, test.Count, train.ImageSize), Is.EqualTo((7, 12, (32, 32))));
        var (x, _) = train.Batches(7, false, false, 0).First();
        Assert.That(x.shape, Is.EqualTo(new long[] { 7, 1, 32, 32 }));
        Assert.That(x[3, 0, 16, 16].item<float>(), Is.EqualTo(((3 * 7 + 3) / 255.0 - 0.1307) / 0.3081).Within(1e-5), "a flat region stays flat");
    }

    [Test]
    public void TestSplitAloneNeedsNoTrainingFiles()
    {
        DataTestFiles.WriteMnistSplit(_root, "t10k", 12, gzip: true);
        var test = DatasetFactory.CreateTest(Config(), CPU, seed: 0);
        Assert.That((test.Count, test.NumClasses, test.ImageSize), Is.EqualTo((12, 10, (28, 28))));
        var (x, y) = test.Batches(12, shuffle: false, augment: false, epoch: 0).First();
        Assert.That(y.data<long>().ToArray()[..3], Is.EqualTo(new long[] { 0, 1, 2 }));
        Assert.That(x[2, 0, 5, 5].item<float>(), Is.EqualTo(((2 * 7 + 3) / 255.0 - 0.2860) / 0.3530).Within(1e-5));
        // The same split as the pair gives (once the training files exist).
        DataTestFiles.WriteMnistSplit(_root, "train", 30, gzip: true);
        var (_, pairTest) = DatasetFactory.Create(Config(), CPU, seed: 0);
        Assert.That(pairTest.Batches(12, false, false, 0).First().Input.eq(x).all().item<bool>());
    }

    [Test]
    public void MissingFileNamesItAndTheFix()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => DatasetFactory.Create(Config(), CPU, 0))!;
        Assert.That(ex.Message, Does.Contain($"train-images-idx3-ubyte(.gz) not found in '{_root}'")
                                  .And.Contain("apt-get install dataset-fashion-mnist").And.Contain("data.root"));
    }

    [Test]
    public void MalformedFilesAreNamedPrecisely()
    {
        var path = Path.Combine(_root, "x-idx3-ubyte");
        var good = DataTestFiles.Idx(new[] { 2, 3, 3 }, new byte[18]);

        var wrongMagic = (byte[])good.Clone(); wrongMagic[3] = 1;
        File.WriteAllBytes(path, wrongMagic);
        Assert.That(Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3))!.Message,
                    Does.Contain($"'{path}' is not an IDX file of 3-dimensional unsigned bytes: magic number 0x00000801, expected 0x00000803"));

        File.WriteAllBytes(path, good[..^5]);
        Assert.That(Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3))!.Message,
                    Does.Contain($"'{path}' is truncated: its header says 2 x 3 x 3 = 18 bytes of data, the file has 13"));

        File.WriteAllBytes(path, good[..10]);
        Assert.That(Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3))!.Message, Does.Contain("shorter than its 16-byte IDX header"));

        DataTestFiles.Write(path, good, gzip: true);
        File.Move(path + ".gz", path, overwrite: true);
        Assert.That(Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3))!.Message, Does.Contain("gzip-compressed but its name does not end in .gz"));

        File.WriteAllBytes(path + ".gz", good);
        Assert.That(Assert.Throws<InvalidDataException>(() => IdxReader.Read(path + ".gz", 3))!.Message, Does.Contain("is not a valid gzip file"));
    }

    [Test]
    public void LabelCountMustMatchImageCount()
    {
        DataTestFiles.WriteMnistSplit(_root, "train", 6, false);
        DataTestFiles.Write(Path.Combine(_root, "train-labels-idx1-ubyte"), DataTestFiles.Idx(new[] { 5 }, new byte[5]), false);
        DataTestFiles.WriteMnistSplit(_root, "t10k", 2, false);
        Assert.That(Assert.Throws<InvalidDataException>(() => DatasetFactory.Create(Config(), CPU, 0))!.Message,
                    Does.Contain("train-labels-idx1-ubyte' has 5 labels but the images file has 6 images"));
    }

    [Test]
    public void RealFashionMnistWhenInstalled()
    {
        const string root = "/usr/share/datasets/fashion-mnist";
        if (!File.Exists(Path.Combine(root, "train-images-idx3-ubyte.gz"))) Assert.Ignore($"{root} not installed");
        var (train, test) = DatasetFactory.Create(new DataConfig { Dataset = "fashion_mnist" }, CPU, 0);
        Assert.That((train.Count, test.Count, train.NumClasses, train.ImageSize), Is.EqualTo((60000, 10000, 10, (28, 28))));
        var labels = ((TensorBatchSource)test).Labels;
        Assert.That(bincount(labels).data<long>().ToArray(), Is.EqualTo(Enumerable.Repeat(1000L, 10)), "1000 test images per class");
        var (x, _) = train.Batches(512, false, false, 0).First();
        Assert.That(x.mean().item<float>(), Is.EqualTo(0).Within(0.1), "standard normalization centres the data");
    }
}
