from services.qualifier.app import service

if __name__ == "__main__":
    service.run()
