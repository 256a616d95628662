namespace Bcbp.Training.Data;

/// <summary>Images [N, 3, 32, 32] (channel-major, as CIFAR stores them) and labels of a CIFAR split.</summary>
public sealed record CifarSplit(byte[] Images, long[] Labels)
{
    public int Count => Labels.Length;
}

/// <summary>
/// Reads the "binary version" of CIFAR-10 (data_batch_1..5.bin, test_batch.bin: records of 1 label byte + 3072 pixel
/// bytes) and CIFAR-100 (train.bin, test.bin: 1 coarse label byte + 1 fine label byte + 3072 pixel bytes; the fine
/// label is used).
/// </summary>
public static class CifarReader
{
    public const int PixelBytes = 3 * 32 * 32;
    public static readonly string[] Cifar10Train = { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin" };
    public static readonly string[] Cifar10Test = { "test_batch.bin" };
    public static readonly string[] Cifar100Train = { "train.bin" };
    public static readonly string[] Cifar100Test = { "test.bin" };

    /// <summary>Reads and concatenates <paramref name="files"/> from <paramref name="root"/>.</summary>
    /// <param name="root">Folder holding the batch files.</param>
    /// <param name="files">Batch file names, read in this order.</param>
    /// <param name="cifar100">Records carry coarse + fine labels (100 classes) instead of one label (10 classes).</param>
    public static CifarSplit Read(string root, IReadOnlyList<string> files, bool cifar100)
    {
        int labelBytes = cifar100 ? 2 : 1, record = labelBytes + PixelBytes, classes = cifar100 ? 100 : 10;
        var paths = files.Select(f => Path.Combine(root, f)).ToList();
        var missing = paths.Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0) throw new FileNotFoundException(MissingMessage(root, missing, cifar100), missing[0]);

        var images = new List<byte[]>();
        var labels = new List<long>();
        foreach (var path in paths)
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length == 0 || bytes.Length % record != 0)
                throw new InvalidDataException(
                    $"'{path}' has {bytes.Length} bytes, not a whole number of {record}-byte CIFAR-{classes} records " +
                    $"({labelBytes} label byte{(labelBytes > 1 ? "s" : "")} + {PixelBytes} pixel bytes)" +
                    (bytes.Length > 0 && bytes.Length % (record + (cifar100 ? -1 : 1)) == 0
                        ? $"; it looks like a CIFAR-{(cifar100 ? 10 : 100)} file: check data.dataset" : "; download it again"));
            int n = bytes.Length / record;
            var pixels = new byte[n * PixelBytes];
            for (int i = 0; i < n; i++)
            {
                int label = bytes[i * record + labelBytes - 1];
                if (label >= classes)
                    throw new InvalidDataException($"'{path}': record {i} has label {label}, outside 0..{classes - 1}; is this a CIFAR-{classes} file?");
                labels.Add(label);
                Buffer.BlockCopy(bytes, i * record + labelBytes, pixels, i * PixelBytes, PixelBytes);
            }
            images.Add(pixels);
        }
        return new CifarSplit(images.SelectMany(a => a).ToArray(), labels.ToArray());
    }

    static string MissingMessage(string root, List<string> missing, bool cifar100)
    {
        var (name, url, folder, expected) = cifar100
            ? ("CIFAR-100", "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "cifar-100-binary", "train.bin and test.bin")
            : ("CIFAR-10", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "cifar-10-batches-bin", "data_batch_1.bin ... data_batch_5.bin and test_batch.bin");
        return $"{name} file{(missing.Count > 1 ? "s" : "")} not found: {string.Join(", ", missing.Select(m => $"'{m}'"))}. " +
               $"{name} needs {expected} (the binary version) in data.root (now '{root}'). " +
               $"Fix: download {url}, run `tar xzf {url.Split('/')[^1]}` (it makes {folder}/), and set data.root to that folder " +
               $"(or put it at {folder} under data/ of the working directory). See docs/data.md.";
    }
}
