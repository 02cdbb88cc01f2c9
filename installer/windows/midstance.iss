; Midstance: Windows installer (Inno Setup 6.3 or later).
;
; Packs the PyInstaller one-folder bundle that `python installer\build.py` writes to dist\midstance
; (built ON WINDOWS: PyInstaller does not cross-compile). Compile from the repository root with
;   iscc /DAppVersion=0.1.0 installer\windows\midstance.iss
; (AppVersion: the version `dist\midstance\midstance.exe --version` prints). The installer lands
; in dist\installer\midstance-<version>-setup.exe.
;
; Not bundled, on purpose (docs/installing.md says why, with sources):
; - the NI-DAQmx driver (NI's software licence; install it from NI),
; - Basler's pylon USB3 Vision / GigE drivers (installed by Basler's pylon Software Suite).
; Midstance runs without them (simulated lab, replay, review) and names what is missing in its
; devices panel; see installer\windows\after-install.txt, shown at the end of setup.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z installer\windows\midstance.iss
#endif
#define AppName "Midstance"
#define BundleDir "..\..\dist\midstance"
#define GuiExe "midstance-gui.exe"
#define CliExe "midstance.exe"
; Windows picks a file's type from its LAST extension, so *.midstance.h5 is seen as ".h5". The
; installer therefore only ADDS Midstance to the "Open with" list of .h5 files (OpenWithProgids)
; and does not take over .h5 from other HDF5 programs.
#define SessionExt ".h5"
#define SessionProgId "Midstance.Session.1"

[Setup]
; AppId identifies this product for upgrades and uninstall: never change it.
AppId={{6B0E7C2A-3F0D-4C55-9A64-5E1D0B7A2C91}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Midstance developers
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; A lab PC is usually set up once by an administrator for every user; a technician without admin
; rights may still choose a per-user install (HKA and {autopf} follow the choice).
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
ChangesAssociations=yes
SetupIconFile=midstance.ico
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName} {#AppVersion}
InfoAfterFile=after-install.txt
OutputDir=..\..\dist\installer
OutputBaseFilename=midstance-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; Close a running Midstance before replacing its files (Restart Manager).
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole bundle: files a newer build no longer has must not linger.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "gui"; Comment: "Live lab session (simulated lab when no hardware is configured)"
Name: "{group}\{#AppName} command line"; Filename: "{cmd}"; Parameters: "/k {#CliExe} --help"; WorkingDir: "{app}"; Comment: "A command prompt in the Midstance folder (midstance.exe record, inspect, export, ...)"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "gui"; Tasks: desktopicon

[Registry]
; The ProgID: what "Open with > Midstance" does with a session file (opens it for review).
Root: HKA; Subkey: "Software\Classes\{#SessionProgId}"; ValueType: string; ValueName: ""; ValueData: "Midstance session"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#SessionProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#GuiExe},0"
Root: HKA; Subkey: "Software\Classes\{#SessionProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#GuiExe}"" open ""%1"""
; Offer it for .h5 files without replacing the user's default HDF5 program.
Root: HKA; Subkey: "Software\Classes\{#SessionExt}\OpenWithProgids"; ValueType: string; ValueName: "{#SessionProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}\SupportedTypes"; ValueType: string; ValueName: "{#SessionExt}"; ValueData: ""

[Run]
Filename: "{app}\{#GuiExe}"; Parameters: "gui"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
