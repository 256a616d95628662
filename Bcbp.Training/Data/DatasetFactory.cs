using Bcbp.Training.Config;
using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>Builds the train and test splits named by the <c>data</c> section: small datasets (MNIST-like, CIFAR,
/// synthetic) as device-resident <see cref="TensorBatchSource"/>s, image folders as streaming
/// <see cref="ImageFolderSource"/>s.</summary>
public static class DatasetFactory
{
    /// <param name="config">The experiment's <c>data</c> section.</param>
    /// <param name="device">Where small datasets live and batches are made.</param>
    /// <param name="seed">Seeds shuffling and augmentation (with the epoch).</param>
    public static (IBatchSource Train, IBatchSource Test) Create(DataConfig config, Device device, int seed)
    {
        var train = Source(config, device, seed, test: false, trainClasses: null);
        return (train, Source(config, device, seed, test: true, (train as ImageFolderSource)?.Classes));
    }

    /// <summary>The test split alone, without reading the training images (an image folder's train/ is still scanned
    /// for its class names): what evaluating a finished run needs.</summary>
    public static IBatchSource CreateTest(DataConfig config, Device device, int seed)
        => Source(config, device, seed, test: true, trainClasses: null);

    static IBatchSource Source(DataConfig config, Device device, int seed, bool test, IReadOnlyList<string>? trainClasses)
    {
        var info = DatasetCatalog.Get(config.Dataset);
        string root = Path.GetFullPath(string.IsNullOrWhiteSpace(config.Root) ? info.DefaultRoot ?? "." : config.Root);
        int channels = info.Channels ?? config.Channels;
        var (mean, std) = Normalization(config, info, channels);

        if (config.Dataset == DatasetCatalog.ImageFolder)
        {
            int size = config.ImageSize > 0 ? config.ImageSize : info.NativeSize;
            if (!test)
                return new ImageFolderSource(Take(ImageFolder.Scan(root, "train"), config.NumTrain), size, mean, std, config.Augment, config.Workers, seed, device, config.Prefetch);
            var val = ImageFolder.Scan(root, "val", trainClasses ?? ImageFolder.Scan(root, "train").Classes);
            return new ImageFolderSource(Take(val, config.NumTest), size, mean, std, false, config.Workers, seed, device, config.Prefetch);
        }

        var (split, classes) = config.Dataset switch
        {
            DatasetCatalog.FashionMnist or DatasetCatalog.Mnist => (ReadIdx(root, test ? "t10k" : "train", info), 10),
            DatasetCatalog.Cifar10 => (ReadCifar(root, false, test), 10),
            DatasetCatalog.Cifar100 => (ReadCifar(root, true, test), 100),
            DatasetCatalog.Synthetic => (Synthetic(config, channels, info, test ? 1 : 0), config.NumClasses),
            _ => throw new NotSupportedException($"data.dataset '{config.Dataset}' has no reader"),
        };
        if (test) return Resident(split, config.NumTest, config.ImageSize, classes, mean, std, 0, false, seed, device);
        bool flip = config.Augment && info.Name != DatasetCatalog.Mnist; // a mirrored digit is another glyph
        int padding = config.Augment ? config.CropPadding : 0;
        return Resident(split, config.NumTrain, config.ImageSize, classes, mean, std, padding, flip, seed, device);
    }

    /// <summary>The config's mean/std, or the dataset's standard values (one per channel).</summary>
    public static (double[] Mean, double[] Std) Normalization(DataConfig config, DatasetInfo info, int channels)
    {
        if (config.Mean.Count > 0) return (config.Mean.ToArray(), config.Std.ToArray());
        if (info.Mean.Length == channels) return (info.Mean, info.Std);
        return (Enumerable.Repeat(info.Mean[0], channels).ToArray(), Enumerable.Repeat(info.Std[0], channels).ToArray());
    }

    static ImageFolder Take(ImageFolder folder, int limit) =>
        limit <= 0 || limit >= folder.Files.Count ? folder
            : folder with { Files = folder.Files.Take(limit).ToList(), Labels = folder.Labels[..limit] };

    /// <summary>Raw split: images uint8 [N, C, H, W] as bytes with their shape, labels.</summary>
    sealed record Split(byte[] Images, long[] Labels, int Channels, int Height, int Width);

    static Split ReadIdx(string root, string prefix, DatasetInfo info)
    {
        string folder = IdxFolder(root, prefix, info);
        var images = IdxReader.Read(IdxFile(folder, $"{prefix}-images-idx3-ubyte"), 3);
        var labelsPath = IdxFile(folder, $"{prefix}-labels-idx1-ubyte");
        var labels = IdxReader.Read(labelsPath, 1);
        if (labels.Dimensions[0] != images.Dimensions[0])
            throw new InvalidDataException($"'{labelsPath}' has {labels.Dimensions[0]} labels but the images file has {images.Dimensions[0]} images");
        var l = labels.Data.Select(b => (long)b).ToArray();
        int bad = Array.FindIndex(l, v => v >= info.NumClasses);
        if (bad >= 0) throw new InvalidDataException($"'{labelsPath}': label {l[bad]} at index {bad} is outside 0..{info.NumClasses - 1}");
        return new Split(images.Data, l, 1, images.Dimensions[1], images.Dimensions[2]);
    }

    /// <summary>The file gzipped (preferred) or raw, in the folder the images file was found in.</summary>
    static string IdxFile(string folder, string name)
    {
        var raw = Path.Combine(folder, name);
        if (File.Exists(raw + ".gz")) return raw + ".gz";
        if (File.Exists(raw)) return raw;
        throw new FileNotFoundException($"'{raw}.gz' not found (nor '{raw}'), though the images file is in '{folder}': that folder needs " +
                                        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or .gz)", raw + ".gz");
    }

    /// <summary>The first folder of the dataset's layouts (<see cref="DataLayout"/>) holding the split's images file.</summary>
    static string IdxFolder(string root, string prefix, DatasetInfo info)
    {
        string images = $"{prefix}-images-idx3-ubyte";
        foreach (var folder in DataLayout.Folders(root, info.Name))
            if (File.Exists(Path.Combine(folder, images)) || File.Exists(Path.Combine(folder, images + ".gz"))) return folder;
        string fix = info.Name == DatasetCatalog.FashionMnist
            ? "run `apt-get install dataset-fashion-mnist` (it installs /usr/share/datasets/fashion-mnist), or set data.root to the folder torchvision's FashionMNIST(root) downloaded to, or to a folder with"
            : "set data.root to the folder torchvision's MNIST(root) downloaded to (for example from https://ossci-datasets.s3.amazonaws.com/mnist/), or to a folder with";
        throw new FileNotFoundException(
            $"{images}(.gz) not found in {DataLayout.Describe(root, info.Name)} (data.root and the layouts torchvision and the archives use): {fix} " +
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or .gz)",
            Path.Combine(root, images + ".gz"));
    }

    static Split ReadCifar(string root, bool cifar100, bool test)
    {
        var s = CifarLayout.Read(root, cifar100, test);
        return new Split(s.Images, s.Labels, 3, 32, 32);
    }

    static Split Synthetic(DataConfig config, int channels, DatasetInfo info, int split)
    {
        int size = config.ImageSize > 0 ? config.ImageSize : info.NativeSize;
        int count = split == 0 ? (config.NumTrain > 0 ? config.NumTrain : 5000) : (config.NumTest > 0 ? config.NumTest : 1000);
        var (images, labels) = SyntheticDataset.Generate(count, channels, size, config.NumClasses, split);
        return new Split(images, labels, channels, size, size);
    }

    static TensorBatchSource Resident(Split s, int limit, int imageSize, int classes, double[] mean, double[] std, int padding,
                                      bool flip, long seed, Device device)
    {
        int n = limit > 0 ? Math.Min(limit, s.Labels.Length) : s.Labels.Length;
        long plane = (long)s.Channels * s.Height * s.Width;
        using var scope = NewDisposeScope();
        var images = tensor(s.Images.AsSpan(0, (int)(n * plane)).ToArray(), new long[] { n, s.Channels, s.Height, s.Width });
        var labels = tensor(s.Labels[..n]);
        if (imageSize > 0 && (imageSize != s.Height || imageSize != s.Width)) images = Resize(images, imageSize);
        return new TensorBatchSource(images, labels, classes, mean, std, padding, flip, seed, device);
    }

    /// <summary>Resizes the whole uint8 set once (bilinear, antialiased when shrinking), so batches need no resize.</summary>
    static Tensor Resize(Tensor images, int size)
    {
        using var f = images.to(ScalarType.Float32);
        using var r = nn.functional.interpolate(f, new long[] { size, size }, mode: InterpolationMode.Bilinear,
                                                align_corners: false, antialias: size < images.shape[2]);
        return r.round_().clamp_(0, 255).to(ScalarType.Byte);
    }
}
