[playlist]
NumberOfEntries=3
File2=http://media.example/Show/Season%201/Show%20S01E02.mkv
Title2=The Second
File1=http://media.example/Show/Season%201/Show%20S01E01.mkv
Title1=Pilot
File3=file:///etc/passwd
Version=2
