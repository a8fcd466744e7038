; Inno Setup 6 script: installs the PyInstaller folder dist\rxbench\ for every user of a
; Windows workstation. Needs Inno Setup 6.3 or later. Build that folder first (see
; installer\README.md), then compile from the repository root:
;
;     iscc /DAppVersion=0.1.0 installer\rxbench.iss
;
; The build passes AppVersion from pyproject.toml. Without /DAppVersion the version is read from
; the version resource that installer\rxbench.spec writes into rxbench.exe. The setup program
; lands in dist\RxBench-<version>-setup.exe. Inno Setup runs on Windows only.

#define AppName "RxBench"
#define AppExeName "rxbench.exe"
#define AdminExeName "rxbench-admin.exe"
; Relative to this script's folder (installer\).
#ifndef DistDir
  #define DistDir "..\dist\rxbench"
#endif
#ifndef AppVersion
  #define AppVersion GetVersionNumbersString(AddBackslash(AddBackslash(SourcePath) + DistDir) + AppExeName)
#endif

[Setup]
; Never change AppId: upgrades and the uninstaller find an existing installation by it.
AppId={{ED9287E3-6214-4697-BD65-29C6CE4703AC}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=RxBench
AppComments=Pharmacy technician workstation
DefaultDirName={autopf}\RxBench
DefaultGroupName=RxBench
DisableProgramGroupPage=yes
; Per-machine: every pharmacy user of the workstation gets the same program files.
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\dist
OutputBaseFilename=RxBench-{#AppVersion}-setup
SetupIconFile=..\resources\icons\rxbench.ico
UninstallDisplayIcon={app}\{#AppExeName}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
; An open RxBench would keep its DLLs locked: ask to close it rather than failing mid-copy.
CloseApplications=yes
RestartApplications=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole bundle: modules or DLLs of the previous version left in
; _internal could be picked up instead of the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\RxBench"; Filename: "{app}\{#AppExeName}"; Comment: "Pharmacy technician workstation"
; A command prompt with rxbench-admin on its PATH, opened in the user's own folder because the
; program folder is read-only for pharmacy users (backups and exports are written from here).
Name: "{group}\RxBench admin command prompt"; Filename: "{cmd}"; Parameters: "/K ""set ""PATH={app};%PATH%"" & cd /d ""%USERPROFILE%"" & title RxBench admin & rxbench-admin --help"""; IconFilename: "{app}\{#AdminExeName}"; Comment: "Command line for set-up, backups and support"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\RxBench"; Filename: "{app}\{#AppExeName}"; Tasks: desktopicon

[Run]
; runasoriginaluser: setup runs elevated, and RxBench must create its database and settings in
; the profile of the person who installed it, not in the administrator account's.
Filename: "{app}\{#AppExeName}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent runasoriginaluser

[UninstallDelete]
; Only the program folder. The databases, settings and backups live in each user's
; %LOCALAPPDATA%\RxBench (or on the shared PostgreSQL server) and are kept on purpose.
Type: filesandordirs; Name: "{app}\_internal"
Type: dirifempty; Name: "{app}"

[Code]
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if (CurUninstallStep = usPostUninstall) and not UninstallSilent then
    MsgBox('RxBench has been removed from this computer.' + #13#10#13#10 +
      'The pharmacy data was left in place: each Windows user''s RxBench database, settings ' +
      'and backups stay in that user''s %LOCALAPPDATA%\RxBench folder, and a shared PostgreSQL ' +
      'database is not touched. Reinstalling RxBench picks them up again; delete that folder ' +
      'yourself only once the records no longer have to be kept.',
      mbInformation, MB_OK);
end;
