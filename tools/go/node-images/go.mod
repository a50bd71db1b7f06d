module oneport.local/tools/node-images

go 1.23.0
