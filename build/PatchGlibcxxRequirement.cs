using System;
using System.IO;
using System.Text;

// MSBuild inline task: makes libLibTorchSharp.so load on systems whose libstdc++ lacks GLIBCXX_3.4.32.
// See build/TorchRuntime.targets for why this is safe.
public class PatchGlibcxxRequirement : Microsoft.Build.Utilities.Task
{
    const string Version = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2, VerNdxGlobal = 1;

    [Microsoft.Build.Framework.Required] public string Directory { get; set; } = "";
    public bool Force { get; set; }

    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory)) return true;
        if (!Force && SystemHasVersion()) return true;
        foreach (var path in System.IO.Directory.GetFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories))
        {
            try
            {
                var bytes = File.ReadAllBytes(path);
                int changed = Patch(bytes);
                if (changed > 0)
                {
                    var tmp = path + ".patching";
                    File.WriteAllBytes(tmp, bytes);
                    File.Replace(tmp, path, null);
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                        $"Bcbp: made {Version} optional in {path} (system libstdc++ lacks it)");
                }
            }
            catch (Exception e)
            {
                Log.LogWarning($"Bcbp: could not patch {path}: {e.Message}. TorchSharp may fail to load with " +
                               $"'{Version} not found'; see docs/gpu.md (GLIBCXX fix).");
            }
        }
        return !Log.HasLoggedErrors;
    }

    static bool SystemHasVersion()
    {
        string[] dirs = { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                          "/usr/lib64", "/lib64", "/usr/lib" };
        var needle = Encoding.ASCII.GetBytes(Version + "\0");
        foreach (var d in dirs)
        {
            var f = Path.Combine(d, "libstdc++.so.6");
            if (File.Exists(f)) return IndexOf(File.ReadAllBytes(f), needle) >= 0;
        }
        return false;
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    /// <summary>Returns how many fields were changed (0 when already patched or not needed).</summary>
    static int Patch(byte[] b)
    {
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[4] != 2) return 0; // ELF64 only
        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A), shnum = BitConverter.ToUInt16(b, 0x3C);
        long Sh(int i) => (long)shoff + (long)i * shentsize;
        uint Type(int i) => BitConverter.ToUInt32(b, (int)Sh(i) + 4);
        long Off(int i) => (long)BitConverter.ToUInt64(b, (int)Sh(i) + 0x18);
        long Size(int i) => (long)BitConverter.ToUInt64(b, (int)Sh(i) + 0x20);
        int Link(int i) => (int)BitConverter.ToUInt32(b, (int)Sh(i) + 0x28);
        string Str(int sec, uint at)
        {
            long o = Off(sec) + at; int e = (int)o;
            while (b[e] != 0) e++;
            return Encoding.ASCII.GetString(b, (int)o, e - (int)o);
        }

        int changed = 0, versionIndex = -1;
        for (int s = 0; s < shnum; s++)
        {
            if (Type(s) != ShtGnuVerneed) continue;
            long vn = Off(s);
            while (true)
            {
                int cnt = BitConverter.ToUInt16(b, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(b, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    if (Str(Link(s), BitConverter.ToUInt32(b, (int)aux + 8)) == Version)
                    {
                        versionIndex = BitConverter.ToUInt16(b, (int)aux + 6) & 0x7fff;
                        ushort flags = BitConverter.ToUInt16(b, (int)aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(b, (int)aux + 4);
                            changed++;
                        }
                    }
                    aux += BitConverter.ToUInt32(b, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(b, (int)vn + 12);
                if (next == 0) break;
                vn += next;
            }
        }
        if (versionIndex < 0) return changed;
        // Every symbol bound to that version becomes unversioned (what `patchelf --clear-symbol-version` does).
        for (int s = 0; s < shnum; s++)
        {
            if (Type(s) != ShtGnuVersym) continue;
            long o = Off(s), n = Size(s) / 2;
            for (long i = 0; i < n; i++)
            {
                int at = (int)(o + 2 * i);
                if ((BitConverter.ToUInt16(b, at) & 0x7fff) == versionIndex)
                {
                    BitConverter.GetBytes(VerNdxGlobal).CopyTo(b, at);
                    changed++;
                }
            }
        }
        return changed;
    }
}
